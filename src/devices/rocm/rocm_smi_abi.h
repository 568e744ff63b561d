/* The few ROCm SMI (librocm_smi64) declarations joule uses, so neither
 * rocm_smi.h nor the library is needed to build. Values are those of
 * rocm_smi/rocm_smi.h (ROCm 5-6). Powers are in microwatts, temperatures in
 * millidegrees Celsius, the energy counter in units of counter_resolution
 * microjoules. The ROCm SMI test double implements the same. */
#ifndef JOULE_DEVICES_ROCM_SMI_ABI_H
#define JOULE_DEVICES_ROCM_SMI_ABI_H

#include <stddef.h>
#include <stdint.h>

typedef int rsmi_status_t;

#define RSMI_STATUS_SUCCESS 0
#define RSMI_STATUS_INVALID_ARGS 1
#define RSMI_STATUS_NOT_SUPPORTED 2
#define RSMI_STATUS_FILE_ERROR 3
#define RSMI_STATUS_PERMISSION 4
#define RSMI_STATUS_OUT_OF_RESOURCES 5
#define RSMI_STATUS_INTERNAL_EXCEPTION 6
#define RSMI_STATUS_INPUT_OUT_OF_BOUNDS 7
#define RSMI_STATUS_INIT_ERROR 8
#define RSMI_STATUS_NOT_YET_IMPLEMENTED 9
#define RSMI_STATUS_NOT_FOUND 10
#define RSMI_STATUS_INSUFFICIENT_SIZE 11
#define RSMI_STATUS_INTERRUPT 12
#define RSMI_STATUS_UNEXPECTED_SIZE 13
#define RSMI_STATUS_NO_DATA 14
#define RSMI_STATUS_UNEXPECTED_DATA 15
#define RSMI_STATUS_BUSY 16
#define RSMI_STATUS_UNKNOWN_ERROR 0xFFFFFFFF

/* rsmi_temperature_type_t */
#define RSMI_TEMP_TYPE_EDGE 0
#define RSMI_TEMP_TYPE_JUNCTION 1
#define RSMI_TEMP_TYPE_MEMORY 2
/* rsmi_temperature_metric_t */
#define RSMI_TEMP_CURRENT 0

#endif
