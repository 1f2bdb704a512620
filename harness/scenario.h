/* Scenarios: workload definitions in scenarios/NAME.ini (libinih), one per
 * file, so that a user adds one without recompiling.  Keys are matched
 * whole; an unknown section or key, or a bad value, is an error naming
 * FILE:LINE and the key.  Try:
 *   build/swapbench list scenarios && build/tests/unit-harness-scenario */
#ifndef SWAPBENCH_SCENARIO_H
#define SWAPBENCH_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define SCENARIO_MAX_RATIOS 8

enum scenario_kind { SCENARIO_OVERCOMMIT, SCENARIO_RAMP, SCENARIO_FIO_RAW };

struct scenario {
	char name[64];			/* the file's base name without .ini */
	char path[4096];
	char summary[256];		/* [scenario] summary */
	enum scenario_kind kind;	/* [scenario] kind: overcommit, ramp, fio-raw */
	/* [memcg] */
	uint64_t limit_bytes;		/* limit = SIZE, or */
	unsigned limit_pct;		/* limit = N% of MemTotal (limit_bytes 0), or */
	bool limit_auto;		/* limit = auto: scenario_fit sizes it */
	unsigned stat_flush_ms;		/* stat_flush_ms: memory.stat read this often
					 * while the workload runs, 0 never */
	bool throttle;			/* mode = high: the limit is memory.high
					 * (reclaim and throttling, no OOM kill;
					 * cgroup v2 only), not memory.max */
	/* [workload] */
	double ratios[SCENARIO_MAX_RATIOS];	/* working set / limit; ratio = F or ratios = F,F */
	unsigned nratios;
	unsigned workers;		/* stress-ng --vm N (touch: processes) */
	bool workers_auto;		/* workers = auto: scenario_fit sets it */
	char engine[16];		/* stress-ng, or touch (swapbench touch) */
	char method[32];		/* stress-ng --vm-method */
	unsigned duration_s;		/* stress-ng --timeout */
	unsigned timeout_s;		/* swapbench kills it after this */
	uint64_t seed;
	/* [factors]: recorded with the results */
	char compressibility[32];	/* incompressible, 2:1, 4:1, zero */
	char locality[32];		/* random, sequential, ... */
	/* [sampling], [probe] */
	unsigned sample_interval_ms;
	unsigned probe_interval_ms;
	char probe_cmd[256];
	bool probe_inside;		/* [probe] placement = inside (else outside) */
	/* [fio] (kind fio-raw): size = SIZE, the region of the device fio
	 * writes once and then measures (capped at the device's size) */
	uint64_t fio_size_bytes;
	/* [tier]: options every tier takes (tier.h's tier_common_params),
	 * passed to each tier's setup: page-cluster = 0 and the like */
	char tier_key[8][32], tier_val[8][64];
	unsigned ntier;
	/* [run]: defaults of the command-line options */
	unsigned repeats;
	char tiers[128];		/* comma-separated, "" = all supported */
	/* What scenario_fit resolved, "" when nothing was auto */
	char sizing[256];
};

/* What a scenario's "auto" values are sized from. */
struct host_shape {
	uint64_t mem_total_bytes;	/* MemTotal (a limit of N% is of it) */
	uint64_t mem_available_bytes;	/* MemAvailable */
	unsigned cpus;			/* online CPUs */
};

/* Resolves the scenario's "auto" values for a host of shape h (pure):
 *   [memcg] limit = auto    MemAvailable / 32, rounded down to a power of
 *                           two, within 256 MiB .. 4 GiB
 *   [workload] workers = auto   online CPUs / 4, within 2 .. 8
 * (a [tier] key given twice keeps the last value: --set over the file)
 *   [tier] size = auto      the largest working set (ratio x limit),
 *                           rounded up to a power of two, at least 1 GiB
 * and describes what it chose in s->sizing.  Returns 0, or -1 with a
 * message when the host is too small (MemAvailable under what the sizes
 * need). */
int scenario_fit(struct scenario *s, const struct host_shape *h);

/* This host's shape (and MemTotal in bytes, where mem_total is not NULL);
 * 0, or -1 with a message. */
int host_shape_read(struct host_shape *h, uint64_t *mem_total);

/* Fills s with the defaults (those of overcommit). */
void scenario_defaults(struct scenario *s);

/* Parses the INI file PATH into s (defaults first).  Returns 0, or -1 after
 * one message "PATH:LINE: ..." naming the key at fault. */
int scenario_load(const char *path, struct scenario *s);

/* Applies "SECTION.KEY=VALUE" over the loaded scenario, checked as the
 * file's keys are.  0, or -1 with a message. */
int scenario_set(struct scenario *s, const char *assignment);

/* Checks what depends on several keys (timeout_s > duration_s).  0 or -1. */
int scenario_check(const struct scenario *s);

/* Where NAME is: NAME itself when it holds a '/' or ends in ".ini", else
 * DIR/NAME.ini with DIR as for `swapbench list scenarios`. */
void scenario_path(const char *name, char *buf, size_t len);

/* The scenario's directory ($SWAPBENCH_SCENARIOS, ../scenarios beside the
 * binary, else ./scenarios). */
void scenario_dir(char *buf, size_t len);

/* The memory cgroup limit in bytes for a machine with mem_total bytes. */
uint64_t scenario_limit(const struct scenario *s, uint64_t mem_total);

/* The scenario's settings as JSON (keys with units). */
json_t *scenario_json(const struct scenario *s);

#endif
