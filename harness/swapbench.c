/* swapbench: set up Linux swap tiers (zram, zswap, disk, NBD to vramd),
 * measure them, and leave the machine as it was.  This file is the
 * dispatcher; each command lives in harness/cmd-<name>.c.  Try:
 *   build/swapbench list
 *   build/swapbench doctor
 *   sudo build/swapbench tier up zram --size 1G --memcg-limit 256M -- build/tests/memtouch --bytes 512M */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "journal.h"
#include "log.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
#define X(n, s) { #n, cmd_##n, s },
	COMMANDS(X)
#undef X
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: swapbench [-v|--verbose] [-q|--quiet] COMMAND [ARGS...]\n\n"
		   "Sets up Linux swap tiers, measures them, and leaves the machine as it was.\n\n"
		   "Commands:\n");
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'swapbench COMMAND --help' describes each.  Every change to the machine is\n"
		   "recorded first in %s/state.json ($SWAPBENCH_STATE_DIR) and undone\n"
		   "on exit, error, SIGINT or SIGTERM, or by 'swapbench restore' after a crash.\n",
		state_dir());
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	enum log_level level = LOG_INFO;
	size_t i;
	int c;

	log_init("swapbench", LOG_INFO);
	/* '+': stop at the command; its options are its own. */
	while ((c = getopt_long(argc, argv, "+vqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			level = LOG_DEBUG;
			break;
		case 'q':
			level = LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("swapbench %s\n", VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'swapbench --help' for more information.\n");
			return 2;
		}
	}
	log_init("swapbench", level);
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			argv += optind;
			argc -= optind;
			optind = 0; /* a full re-initialisation of getopt for the command */
			return commands[i].fn(argc, argv);
		}
	}
	error("unknown command '%s'", argv[optind]);
	fprintf(stderr, "Try 'swapbench --help' for more information.\n");
	return 2;
}
