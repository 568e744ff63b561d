/* Internal pieces of the swing analysis (core/trace_swing.c) that the
 * plot (core/trace_svg_ramps.c) uses without the rest. */
#ifndef JOULE_CORE_TRACE_SWING_H
#define JOULE_CORE_TRACE_SWING_H

#include <joule/swing.h>

/* Fills only o's sample_s, ramp_window_s and ramp_* fields (NAN where the
 * trace is shorter than two windows). sample_s <= 0: the median step. */
int trace_ramps_of(const double *t, const double *v, int n, double end_s, double sample_s,
                   joule_swing *o);

#endif
