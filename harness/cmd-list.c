/* swapbench list [tiers|scenarios]: names and one-line summaries.  Tiers
 * come from the TIERS list (tier.h); scenarios are the .ini files in scenarios/,
 * each summarised by its [scenario] summary= line.  Try:
 *   build/swapbench list */
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "cmd.h"
#include "log.h"
#include "scenario.h"
#include "tier.h"

static const char usage_text[] =
	"usage: swapbench list [tiers|stacks|scenarios]\n"
	"\n"
	"Lists the swap tiers this swapbench knows, how to stack them for\n"
	"'swapbench run' (zram>disk), and the scenarios it finds\n"
	"(in $SWAPBENCH_SCENARIOS, else scenarios/ beside the build directory, else\n"
	"./scenarios), with one-line summaries.  'swapbench doctor' says which tiers\n"
	"this host can run.\n";

static void list_tiers(void)
{
	int i;

	for (i = 0; tiers[i]; i++)
		printf("%-10s %s\n", tiers[i]->name, tiers[i]->summary);
}

static void list_stacks(void)
{
	printf("stacks (swapbench run --tiers, highest priority first, up to %d levels):\n"
	       "zram>disk                 zram at priority 100, a disk swap at 10 behind it\n"
	       "zram>nbd:backend=vram     VRAM swap under zram\n"
	       "zswap>nbd:backend=ram     zswap's pool in front of an nbd device (no swap file)\n"
	       "a level takes its tier's options (zram:size=512M>disk); an upper level's size\n"
	       "defaults to half the overflow; zswap only on top, never over zram\n",
	       TIER_STACK_MAX);
}

static int summary_handler(void *arg, const char *section, const char *key, const char *value)
{
	char *summary = arg;

	if (!strcmp(section, "scenario") && !strcmp(key, "summary"))
		snprintf(summary, 256, "%s", value);
	return 1;
}

static int list_scenarios(void)
{
	char dir[PATH_MAX], pat[PATH_MAX + 8];
	glob_t g;
	size_t i;

	scenario_dir(dir, sizeof dir);
	snprintf(pat, sizeof pat, "%s/*.ini", dir);
	if (glob(pat, 0, NULL, &g) != 0) {
		printf("(no scenarios in '%s')\n", dir);
		return 0;
	}
	for (i = 0; i < g.gl_pathc; i++) {
		char summary[256] = "(no summary)", name[256];
		const char *base = strrchr(g.gl_pathv[i], '/') + 1;
		int line = ini_parse(g.gl_pathv[i], summary_handler, summary);

		snprintf(name, sizeof name, "%.*s", (int)(strlen(base) - 4), base);
		if (line != 0)
			snprintf(summary, sizeof summary, "(unreadable: error at line %d)", line);
		printf("%-20s %s\n", name, summary);
	}
	globfree(&g);
	return 0;
}

int cmd_list(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : NULL;

	if (what && (!strcmp(what, "--help") || !strcmp(what, "-h"))) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc > 2)
		return usage_error("list", "unexpected argument '%s'", argv[2]);
	if (!what) {
		printf("tiers:\n");
		list_tiers();
		printf("\n");
		list_stacks();
		printf("\nscenarios:\n");
		return list_scenarios();
	}
	if (!strcmp(what, "tiers")) {
		list_tiers();
		return 0;
	}
	if (!strcmp(what, "stacks")) {
		list_stacks();
		return 0;
	}
	if (!strcmp(what, "scenarios"))
		return list_scenarios();
	return usage_error("list", "expected 'tiers', 'stacks' or 'scenarios', got '%s'", what);
}
