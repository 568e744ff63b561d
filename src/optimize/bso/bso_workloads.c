/* The six workloads of the Zeus paper, as its simulator runs them. */
#include <string.h>

#include "optimize/bso/bso_trace.h"

static const struct bso_workload workloads[] = {
    {"cifar100", "cifar100", "shufflenetv2", "adadelta", 0.6, 100, 1024},
    {"imagenet", "imagenet", "resnet50", "adadelta", 0.65, 100, 256},
    {"squad", "squad", "bert_base_uncased", "adamw", 84.0, 6, 32},
    {"librispeech", "librispeech", "deepspeech2", "adamw", 40.0, 16, 192},
    {"movielens-1m", "movielens-1m", "ncf", "adam", 0.41, 100, 1024},
    {"sentiment140", "sentiment140", "bert_base_uncased", "adamw", 0.84, 10, 128},
};

size_t bso_workload_count(void)
{
    return sizeof(workloads) / sizeof(workloads[0]);
}

const struct bso_workload *bso_workload_at(size_t i)
{
    return i < bso_workload_count() ? &workloads[i] : NULL;
}

const struct bso_workload *bso_workload_find(const char *name)
{
    for (size_t i = 0; name && i < bso_workload_count(); i++)
        if (strcmp(workloads[i].name, name) == 0)
            return &workloads[i];
    return NULL;
}
