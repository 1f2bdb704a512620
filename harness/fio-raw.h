/* The fio-raw scenario kind: fio on a tier's block device before it becomes
 * swap (the tier set up with no_swapon), 4 KiB random read and write at QD1
 * and QD32 and 64 KiB, --output-format=json+: the device's own latency
 * ceiling.  Never on an active swap device.  Try:
 *   sudo build/swapbench run --scenario fio-raw --tiers zram --repeats 1 */
#ifndef SWAPBENCH_FIO_RAW_H
#define SWAPBENCH_FIO_RAW_H

#include <jansson.h>

#include "scenario.h"
#include "tier.h"

/* Runs the scenario's fio jobs on state.swap_dev of t (set up, not swapped
 * on), each under a timeout, writing fio's output to OUT_DIR/TAG-fio-*.json
 * and filling RUN with "fio_jobs" (one object per job, keys with units),
 * "valid" and "invalid_reason"; each fio command goes to CHILDREN
 * ({argv, exit_code}).  Returns 0 (run filled, valid or not), -1 when
 * nothing could be measured (reported), 128+N on signal N. */
int fio_raw_measure(const struct scenario *sc, struct tier *t, const char *out_dir,
		    const char *tag, json_t *run, json_t *children);

#endif
