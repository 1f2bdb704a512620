/* `swapbench doctor`'s configuration advice: established rules about swap
 * set-ups, one row each in a table, judged on facts gathered from the host
 * (cmd-doctor.c) so that the rules are pure and unit-tested
 * (tests/unit-harness-advice.c). */
#ifndef SWAPBENCH_ADVICE_H
#define SWAPBENCH_ADVICE_H

#include <stdbool.h>

#include <jansson.h>

struct host_facts {
	bool swap_active;	/* any swap area is active */
	bool zram_swap;		/* a zram device is active swap */
	bool zswap_enabled;	/* zswap's enabled parameter is Y */
	int swappiness;		/* vm.swappiness, -1 unknown */
	int page_cluster;	/* vm.page-cluster, -1 unknown */
	bool kubelet;		/* this is a Kubernetes node (kubelet config found) */
	bool fail_swap_on;	/* kubelet's failSwapOn (its default is true) */
	bool desktop;		/* boots to a graphical session */
	bool oom_daemon;	/* earlyoom, systemd-oomd or nohang is running */
};

/* Appends {"rule": NAME, "message": TEXT} to out (an array) for every rule
 * that applies.  Returns how many did. */
int advise(const struct host_facts *f, json_t *out);

#endif
