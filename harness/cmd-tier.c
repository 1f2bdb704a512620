/* swapbench tier up|down|show: set up one tier by hand and keep it, hold it
 * until a signal, or run a workload on it in a memory cgroup; show the one
 * that is up; take it down.  Try:
 *   sudo swapbench tier up zram --size 1G --dry-run
 *   sudo swapbench tier up zram --size 1G --memcg-limit 256M --json - -- \
 *        build/tests/memtouch --bytes 512M --passes 1
 *   sudo swapbench tier up disk && sudo swapbench tier show && sudo swapbench tier down disk */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "change.h"
#include "cmd.h"
#include "journal.h"
#include "log.h"
#include "memcg.h"
#include "parse.h"
#include "procfs.h"
#include "run.h"
#include "tier.h"

#define TIER_SCHEMA "swapbench-tier"
#define TIER_VERSION 1

static const char usage_text[] =
	"usage: swapbench tier up TIER [OPTIONS] [--hold | -- COMMAND [ARGS...]]\n"
	"       swapbench tier down [TIER] [--dry-run]\n"
	"       swapbench tier show [TIER]\n"
	"\n"
	"up    sets TIER up as the only swap and then:\n"
	"        keeps it (no --hold, no COMMAND): 'swapbench tier down' removes it;\n"
	"        --hold: holds it until SIGINT or SIGTERM, then tears it down;\n"
	"        -- COMMAND: runs COMMAND in a memory cgroup limited by --memcg-limit,\n"
	"        then tears it down (exit status 1 when COMMAND fails).\n"
	"      Refuses, changing nothing, when not root, when other swap is active\n"
	"      (unless --disable-other-swap), when a tier is up already, or when\n"
	"      this host lacks what TIER needs.\n"
	"down  tears the kept tier down.   show  prints it as JSON.\n"
	"\n"
	"Options of 'up':\n"
	"  --dry-run               print every change it would make; make none\n"
	"  --disable-other-swap    swap other areas off for the while, back on after\n"
	"  --hold                  hold the tier until SIGINT or SIGTERM\n"
	"  --memcg-limit SIZE      COMMAND's memory cgroup limit (default 256M)\n"
	"  --timeout SECONDS       COMMAND's time limit (default 600)\n"
	"  --json FILE             write the tier's description and counters before\n"
	"                          and after, and every child's exit status ('-': stdout)\n";

/* --- settings from the command line --------------------------------------- */

enum { OPT_DRY = 1000, OPT_OTHER, OPT_HOLD, OPT_MEMCG, OPT_TIMEOUT, OPT_JSON, OPT_HELP,
       OPT_PARAM = 2000 };

struct up_opts {
	bool dry, disable_other, hold;
	uint64_t memcg_limit, timeout_s;
	const char *json;
	char **cmd;	/* the workload, or NULL */
};

static void param_help(const struct tier_param *p)
{
	char opt[64];

	for (; p && p->name; p++) {
		snprintf(opt, sizeof opt, "--%s%s%s", p->name, p->arg ? " " : "", p->arg ? p->arg : "");
		printf("  %-30s %s%s%s%s\n", opt, p->help, p->def ? " (default " : "",
		       p->def ? p->def : "", p->def ? ")" : "");
	}
}

static void tier_usage(void)
{
	int i;

	fputs(usage_text, stdout);
	printf("\nOptions of every tier:\n");
	param_help(tier_common_params);
	for (i = 0; tiers[i]; i++) {
		if (tiers[i]->baseline)	/* nothing to bring up */
			continue;
		printf("\nOptions of tier %s (%s):\n", tiers[i]->name, tiers[i]->summary);
		param_help(tiers[i]->params);
	}
}

/* Parses `up TIER ...` (argv[0] is TIER) into o and settings.  Returns 0 or
 * the exit status of a usage error. */
static int parse_up(const struct tier_ops *ops, int argc, char **argv, struct up_opts *o,
		    json_t *settings)
{
	static const struct option fixed[] = {
		{ "dry-run", no_argument, NULL, OPT_DRY },
		{ "disable-other-swap", no_argument, NULL, OPT_OTHER },
		{ "hold", no_argument, NULL, OPT_HOLD },
		{ "memcg-limit", required_argument, NULL, OPT_MEMCG },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
	};
	const struct tier_param *params[64];
	struct option opts[96];
	int n = 0, np = 0, c, i, k;
	bool own;

	for (i = 0; i < (int)(sizeof fixed / sizeof fixed[0]); i++)
		opts[n++] = fixed[i];
	/* The options of every tier are known, so that one meant for another
	 * tier gets a clear answer rather than "unrecognized option". */
	for (k = -1; tiers[k < 0 ? 0 : k] && np < 60; k++) {
		const struct tier_param *p = k < 0 ? tier_common_params : tiers[k]->params;

		for (; p && p->name && np < 60; p++) {
			for (i = 0; i < np; i++)
				if (!strcmp(params[i]->name, p->name))
					break;
			if (i < np)
				continue;
			params[np] = p;
			opts[n++] = (struct option){ p->name, p->arg ? required_argument : no_argument,
						     NULL, OPT_PARAM + np };
			np++;
		}
	}
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	o->memcg_limit = 256ULL << 20;
	o->timeout_s = 600;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case OPT_DRY: o->dry = true; break;
		case OPT_OTHER: o->disable_other = true; break;
		case OPT_HOLD: o->hold = true; break;
		case OPT_MEMCG:
			if (parse_size(optarg, &o->memcg_limit) < 0 || o->memcg_limit < (16ULL << 20))
				return usage_error("tier", "--memcg-limit: expected a size of 16M or more, got '%s'", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_uint(optarg, 1, 86400, &o->timeout_s) < 0)
				return usage_error("tier", "--timeout: expected seconds from 1 to 86400, got '%s'", optarg);
			break;
		case OPT_JSON: o->json = optarg; break;
		case OPT_HELP: tier_usage(); exit(0);
		default:
			if (c < OPT_PARAM || c >= OPT_PARAM + np) {
				fprintf(stderr, "Try 'swapbench tier --help' for more information.\n");
				return 2;
			}
			own = false;
			for (const struct tier_param *p = tier_common_params; p->name; p++)
				own |= p == params[c - OPT_PARAM];
			for (const struct tier_param *p = ops->params; p && p->name; p++)
				own |= !strcmp(p->name, params[c - OPT_PARAM]->name);
			if (!own)
				return usage_error("tier", "option '--%s' does not apply to tier '%s'",
						   params[c - OPT_PARAM]->name, ops->name);
			json_object_set_new(settings, params[c - OPT_PARAM]->name,
					    json_string(optarg ? optarg : "yes"));
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--"))
			return usage_error("tier", "unexpected argument '%s' (put a command after --)",
					   argv[optind]);
		o->cmd = argv + optind;
	}
	if (o->cmd && o->hold)
		return usage_error("tier", "--hold and a COMMAND exclude each other");
	return 0;
}

/* --- documents ------------------------------------------------------------------ */

static json_t *host_json(void)
{
	struct utsname u;
	char bid[64] = "";

	uname(&u);
	boot_id(bid, sizeof bid);
	return json_pack("{s:s, s:s, s:s, s:s}", "kernel", u.release, "machine", u.machine,
			 "hostname", u.nodename, "boot_id", bid);
}

static int write_json(const char *path, json_t *doc)
{
	int rc;

	if (!strcmp(path, "-")) {
		rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		fflush(stdout);
	} else {
		rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_SORT_KEYS);
	}
	if (rc < 0)
		error("cannot write '%s'", path);
	return rc;
}

/* --- up --------------------------------------------------------------------------- */

struct peak {
	const char *dev;
	uint64_t used_kib;
};

static void sample_peak(void *arg)
{
	struct peak *p = arg;
	struct swap_area a;

	if (p->dev && swap_active(p->dev, &a) && a.used_kib > p->used_kib)
		p->used_kib = a.used_kib;
}

/* Refuses while swap not made by swapbench is active, unless told to take
 * it off; returns 0 and the areas, or 1 after the message. */
static int check_other_swap(const struct up_opts *o, struct swap_area *a, int *n)
{
	char list[1024] = "";
	size_t used = 0;
	int i;

	*n = swaps_read(a, 16);
	if (*n < 0)
		return 1;
	if (*n > 16) {
		error("more than 16 swap areas are active; swap some off first");
		return 1;
	}
	if (*n == 0 || o->disable_other)
		return 0;
	for (i = 0; i < *n && used < sizeof list; i++)
		used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s' (priority %d)",
					 i ? ", " : "", a[i].name, a[i].priority);
	error("swap is active already: %s; results would be mixed: swap it off first, or pass "
	      "--disable-other-swap to have swapbench take it off and put it back after", list);
	return 1;
}

/* Runs the workload in a fresh memory cgroup; fills w.  Returns the exit
 * status contribution: 0 ok, 1 failed, 128+N interrupted. */
static int run_workload(struct tier *t, const struct up_opts *o, struct peak *pk, json_t *w)
{
	struct memcg_root root;
	char cg[PATH_MAX], procs[PATH_MAX + 16], name[64];
	struct child_opts co = { .own_pgrp = true };
	struct memcg_flusher fl = { .fd = -1 };
	json_t *argv = json_array();
	uint64_t t0, kills = 0;
	int status = 0, r, i, rc = 0;
	bool hung;

	for (i = 0; o->cmd[i]; i++)
		json_array_append_new(argv, json_string(o->cmd[i]));
	json_object_set_new(w, "argv", argv);
	if (memcg_find(&root) < 0) {
		error("no memory cgroup controller is mounted (cgroup v2 with memory, or v1 memory)");
		return 1;
	}
	snprintf(name, sizeof name, "swapbench-%d", (int)getpid());
	/* A frontswap tier (zswap) wants the pages; the others must not lose them to it. */
	if (memcg_create(t->j, &root, name, o->memcg_limit,
			 t->ops->frontswap, false, cg, sizeof cg) < 0)
		return 1;
	json_object_set_new(w, "memcg", json_pack("{s:i, s:s, s:I}", "version", root.version,
		"path", cg, "limit_bytes", (json_int_t)o->memcg_limit));
	if (t->dry_run) {
		char line[512];

		printf("would run in '%s': %s\n", cg, argv_str((const char *const *)o->cmd, line, sizeof line));
		return 0;
	}
	snprintf(procs, sizeof procs, "%s/cgroup.procs", cg);
	co.cgroup_procs = procs;
	/* Without it, v1 reclaim OOM-kills behind zram and zswap: see memcg.h. */
	if (memcg_flusher_start(&fl, cg, MEMCG_FLUSH_MS) < 0)
		return 1;
	t0 = mono_ns();
	/* Timed out or interrupted: the whole workload goes. */
	r = child_run((const char *const *)o->cmd, &co, (int)o->timeout_s * 1000, 100, sample_peak, pk,
		      REAP_DEADLINE_MS, o->cmd[0], &status, &hung);
	if (r == -1) {
		memcg_flusher_stop(&fl);
		return 1;
	}
	if (r != 1) {
		if (hung) {
			memcg_flusher_stop(&fl);
			json_object_set_new(w, "hung", json_true());
			json_object_set_new(w, "elapsed_ns", json_integer((json_int_t)(mono_ns() - t0)));
			json_object_set_new(w, "timed_out", json_boolean(r == 0));
			json_object_set_new(w, "exit_code", json_integer(-1));
			return 1;
		}
		if (r == 0) {
			error("'%s' did not finish within %" PRIu64 " s; killed it", o->cmd[0], o->timeout_s);
			rc = 1;
		} else {
			rc = 128 + (int)sig_pending;
		}
	}
	memcg_flusher_stop(&fl);
	json_object_set_new(w, "elapsed_ns", json_integer((json_int_t)(mono_ns() - t0)));
	json_object_set_new(w, "timed_out", json_boolean(r == 0));
	if (WIFEXITED(status)) {
		json_object_set_new(w, "exit_code", json_integer(WEXITSTATUS(status)));
		if (rc == 0 && WEXITSTATUS(status) != 0) {
			error("'%s' exited with status %d", o->cmd[0], WEXITSTATUS(status));
			rc = 1;
		}
	} else {
		json_object_set_new(w, "exit_code", json_integer(128 + WTERMSIG(status)));
		json_object_set_new(w, "signal", json_integer(WTERMSIG(status)));
		if (rc == 0) {
			error("'%s' was killed by signal %d", o->cmd[0], WTERMSIG(status));
			rc = 1;
		}
	}
	if (memcg_oom_kills(&root, cg, &kills) == 0)
		json_object_set_new(json_object_get(w, "memcg"), "oom_kills", json_integer((json_int_t)kills));
	json_object_set_new(json_object_get(w, "memcg"), "stat_flushes", json_integer((json_int_t)fl.flushes));
	return rc;
}

/* tier up's TIER argument: the tier into *ops and -1 to go on, or the exit
 * status (--help, a usage error: none, unknown, the baseline). */
static int up_tier_arg(int argc, char **argv, const struct tier_ops **ops)
{
	if (argc < 1 || argv[0][0] == '-') {
		char list[128] = "";

		if (argc >= 1 && !strcmp(argv[0], "--help")) {
			tier_usage();
			return 0;
		}
		for (int k = 0; tiers[k]; k++)
			if (!tiers[k]->baseline && strlen(list) + strlen(tiers[k]->name) + 2 < sizeof list)
				strcat(strcat(list, " "), tiers[k]->name);
		return usage_error("tier", "'tier up' needs a TIER (one of:%s)", list);
	}
	*ops = tier_find(argv[0]);
	if (!*ops)
		return usage_error("tier", "unknown tier '%s' ('swapbench list tiers')", argv[0]);
	if ((*ops)->baseline)
		return usage_error("tier", "tier '%s' is no swap at all, nothing to bring up (it is "
				   "the baseline of 'swapbench run --tiers %s,...')", (*ops)->name,
				   (*ops)->name);
	return -1;
}

/* With the tier up: --hold until a signal, or the workload COMMAND (its
 * record into doc.workload).  0, the workload's failure, or 128+N. */
static int hold_or_run(struct tier *t, const struct up_opts *o, struct peak *pk, json_t *doc)
{
	json_t *w;
	int rc;

	if (o->hold) {
		info("tier '%s' is up on '%s'; holding it until SIGINT or SIGTERM", t->ops->name,
		     pk->dev ? pk->dev : "?");
		while (!sleep_ms(100))
			sample_peak(pk);
		info("signal %d: tearing tier '%s' down", (int)sig_pending, t->ops->name);
		return 0;
	}
	w = json_object();
	rc = run_workload(t, o, pk, w);
	json_object_set_new(doc, "workload", w);
	if (rc > 128)
		info("signal %d: tearing tier '%s' down", rc - 128, t->ops->name);
	return rc;
}

/* tier up in order: the arguments, the journal (recovered, no tier up
 * already), the checks, the bring-up, then kept, held or a workload, and
 * the take-down.  Long by design: every failure after the first change
 * leaves through out_restore, which undoes it; split, that unwinding would
 * be spread over the pieces. */
static int tier_up(int argc, char **argv)
{
	const struct tier_ops *ops = NULL;
	struct up_opts o = { 0 };
	struct swap_area other[16];
	struct journal j;
	struct tier t;
	struct peak pk = { 0 };
	bool torn_badly;
	json_t *settings = json_object(), *doc = NULL, *w = NULL;
	char why[512];
	int n_other = 0, rc = 1, i, urc;

	if ((urc = up_tier_arg(argc, argv, &ops)) >= 0) {
		json_decref(settings);
		return urc;
	}
	urc = parse_up(ops, argc, argv, &o, settings);
	if (urc) {
		json_decref(settings);
		return urc;
	}
	if (!o.dry && require_root("swapbench tier up")) {
		json_decref(settings);
		return 1;
	}
	sig_install();
	if (journal_open(&j, o.dry) < 0) {
		json_decref(settings);
		return 1;
	}
	if (!o.dry && recover_journal(&j) < 0)
		goto out_close;
	if (json_object_get(j.doc, "tier")) {
		const char *up = json_string_value(json_object_get(json_object_get(j.doc, "tier"), "name"));

		error("tier '%s' is up already (kept by an earlier 'swapbench tier up'); take it down "
		      "first: swapbench tier down %s", up, up);
		goto out_close;
	}
	if (check_other_swap(&o, other, &n_other))
		goto out_close;
	if (journal_begin(&j) < 0)
		goto out_close;
	json_object_set_new(j.doc, "tier", json_pack("{s:s, s:O, s:{}, s:b}", "name", ops->name,
						      "settings", settings, "state", "up", 0));
	tier_bind(&t, ops, &j);
	why[0] = '\0';
	if (tier_check_common(&t) < 0 || !ops->supported(&t, why, sizeof why)) {
		if (why[0]) /* else the bad option was reported already */
			error("tier '%s' cannot run here: %s", ops->name, why);
		json_object_del(j.doc, "tier");
		journal_save(&j);
		goto out_close;
	}
	if (o.cmd && !o.dry) {
		struct memcg_root root;

		if (memcg_find(&root) < 0) {
			error("no memory cgroup controller is mounted: mount cgroup v2 with the memory "
			      "controller (or v1 memory), or boot without cgroup_disable=memory");
			json_object_del(j.doc, "tier");
			journal_save(&j);
			goto out_close;
		}
	}
	if (journal_save(&j) < 0)
		goto out_restore;

	/* From here on every change is journaled: any failure restores. */
	for (i = 0; o.disable_other && i < n_other; i++) {
		info("taking '%s' off for the while (priority %d)", other[i].name, other[i].priority);
		if (change_swapoff(&j, &other[i]) < 0)
			goto out_restore;
	}
	if (tier_bring_up(&t) < 0)
		goto out_restore;
	if (sig_pending)
		goto out_signal;
	pk.dev = tier_state(&t, "swap_dev");
	if (o.dry) {
		if (o.cmd) {
			w = json_object();
			run_workload(&t, &o, &pk, w);
			json_decref(w);
		}
		printf("then, to undo it, in this order:\n");
		tier_take_down(&j, &t, NULL);
		rc = 0;
		goto out_close;
	}
	doc = json_pack("{s:s, s:i, s:{s:s, s:s}, s:o, s:s, s:O, s:o, s:O, s:o, s:o}",
			"schema", TIER_SCHEMA, "version", TIER_VERSION,
			"tool", "name", "swapbench", "version", VERSION, "host", host_json(),
			"tier", ops->name, "settings", t.settings, "in_force", tier_in_force(),
			"state", t.state, "describe", tier_snapshot(&t, true),
			"counters_before", tier_snapshot(&t, false));

	if (!o.hold && !o.cmd) {
		json_object_set_new(j.doc, "kept", json_true());
		json_object_del(j.doc, "owner");
		if (journal_save(&j) < 0)
			goto out_restore;
		info("tier '%s' is up on '%s'; 'swapbench tier down %s' takes it down", ops->name,
		     pk.dev ? pk.dev : "?", ops->name);
		if (o.json)
			write_json(o.json, doc);
		rc = 0;
		goto out_close;
	}
	rc = hold_or_run(&t, &o, &pk, doc);
	json_object_set_new(doc, "counters_after", tier_snapshot(&t, false));
	json_object_set_new(doc, "peak", json_pack("{s:I}", "swap_used_bytes",
						   (json_int_t)(pk.used_kib * 1024)));
	if (tier_take_down(&j, &t, &torn_badly) < 0 || torn_badly)
		rc = rc ? rc : 1;
	json_object_set_new(doc, "restored", json_boolean(journal_empty(&j)));
	if (run_log)
		json_object_set(doc, "children", run_log);
	if (o.json)
		write_json(o.json, doc);
	goto out_close;

out_signal:
	info("signal %d: undoing what was set up", (int)sig_pending);
	rc = 128 + (int)sig_pending;
out_restore:
	if (sig_pending && rc == 1)
		rc = 128 + (int)sig_pending; /* the failure was the interruption */
	if (tier_take_down(&j, &t, NULL) < 0)
		error("the machine is not fully restored: see above, then 'swapbench restore'");
out_close:
	json_decref(doc);
	json_decref(settings);
	journal_close(&j);
	return rc;
}

/* --- down, show ----------------------------------------------------------------------- */

/* The tier in the journal, checked against the name the user gave. */
static const struct tier_ops *journal_tier(struct journal *j, const char *want)
{
	const char *name = json_string_value(json_object_get(json_object_get(j->doc, "tier"), "name"));
	const struct tier_ops *ops;

	if (!name) {
		error("no tier is up");
		return NULL;
	}
	if (want && strcmp(want, name)) {
		error("tier '%s' is not up (tier '%s' is)", want, name);
		return NULL;
	}
	ops = tier_find(name);
	if (!ops)
		error("the journal names tier '%s', which this swapbench does not know; "
		      "'swapbench restore' still undoes its changes", name);
	return ops;
}

static int tier_down(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct tier_ops *ops;
	struct journal j;
	bool dry = false;
	int c, rc = 1;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+nh", opts, NULL)) != -1) {
		if (c == 'n') {
			dry = true;
		} else if (c == 'h') {
			tier_usage();
			return 0;
		} else {
			fprintf(stderr, "Try 'swapbench tier --help' for more information.\n");
			return 2;
		}
	}
	if (argc - optind > 1)
		return usage_error("tier", "unexpected argument '%s'", argv[optind + 1]);
	if (!dry && require_root("swapbench tier down"))
		return 1;
	sig_install();
	if (journal_open(&j, dry) < 0)
		return 1;
	if (journal_empty(&j)) {
		info("no tier is up; nothing to do");
		journal_close(&j);
		return 0;
	}
	ops = journal_tier(&j, optind < argc ? argv[optind] : NULL);
	if (!ops)
		goto out;
	/* A stack (swapbench run's, left by a crash) goes down whole: every
	 * level's teardown, then the journal. */
	rc = tier_stack_take_down(&j, NULL, NULL) < 0 ? 1 : 0;
	if (rc == 0 && !dry)
		info("tier '%s' is down; the machine is as swapbench found it", ops->name);
out:
	journal_close(&j);
	return rc;
}

static int tier_show(int argc, char **argv)
{
	const struct tier_ops *ops;
	struct tier_stack st;
	struct journal j;
	json_t *to, *doc;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "--help")) {
		tier_usage();
		return 0;
	}
	if (argc > 2)
		return usage_error("tier", "unexpected argument '%s'", argv[2]);
	rc = journal_peek(&j);
	if (rc < 0)
		return 1;
	ops = rc ? journal_tier(&j, argc > 1 ? argv[1] : NULL) : NULL;
	if (!ops) {
		if (!rc)
			error("no tier is up");
		journal_close(&j);
		return 1;
	}
	to = json_object_get(j.doc, "tier");
	if (!tier_stack_from_journal(&j, &st)) {
		error("the journal's tier '%s' has a level this swapbench does not know", ops->name);
		journal_close(&j);
		return 1;
	}
	doc = json_pack("{s:s, s:i, s:s, s:O, s:O, s:O*, s:O*, s:O*, s:O*}", "schema", TIER_SCHEMA,
			"version", TIER_VERSION, "tier", ops->name, "settings", st.lv[0].settings,
			"state", st.lv[0].state, "levels", json_object_get(to, "levels"),
			"up", json_object_get(to, "up"),
			"kept", json_object_get(j.doc, "kept"), "owner", json_object_get(j.doc, "owner"));
	if (json_is_true(json_object_get(to, "up"))) {
		json_object_set_new(doc, "describe", tier_stack_snapshot(&st, true));
		json_object_set_new(doc, "counters", tier_stack_snapshot(&st, false));
	}
	rc = write_json("-", doc) < 0;
	json_decref(doc);
	journal_close(&j);
	return rc;
}

int cmd_tier(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 2)
			return usage_error("tier", "'tier' needs up, down or show");
		tier_usage();
		return 0;
	}
	if (!strcmp(argv[1], "up"))
		return tier_up(argc - 2, argv + 2);
	if (!strcmp(argv[1], "down"))
		return tier_down(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return tier_show(argc - 1, argv + 1);
	return usage_error("tier", "unknown 'tier' command '%s' (up, down or show)", argv[1]);
}
