/* swapbench restore: replay the undo journal, undoing every change an
 * earlier swapbench made (a crashed or killed run, or a tier kept up), last
 * first.  Try:
 *   sudo swapbench restore --dry-run
 *   sudo swapbench restore */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "journal.h"
#include "log.h"
#include "run.h"
#include "tier.h"

static const char usage_text[] =
	"usage: swapbench restore [--dry-run]\n"
	"\n"
	"Undoes every change recorded in the journal (%s/state.json),\n"
	"last first: swap areas go off before the devices, daemons and files under\n"
	"them are removed, and settings get their old values back.  Needed after a\n"
	"swapbench was killed with SIGKILL or the machine lost power mid-run; a\n"
	"swapbench that ends any other way restores by itself, and the next one to\n"
	"start restores a crashed one's journal first.  Also takes down a tier kept\n"
	"up by 'swapbench tier up'.\n"
	"\n"
	"  --dry-run   print what would be undone, undo nothing\n"
	"  --help      this text\n"
	"\n"
	"Exit status: 0 when the journal is empty at the end, 1 when something could\n"
	"not be undone (it stays in the journal: fix the cause and run it again).\n";

int recover_journal(struct journal *j)
{
	json_t *owner;
	size_t n;

	if (journal_empty(j) || json_is_true(json_object_get(j->doc, "kept")))
		return 0;
	owner = json_object_get(j->doc, "owner");
	n = json_array_size(json_object_get(j->doc, "changes"));
	info("found the journal of an interrupted swapbench (pid %lld, %zu change%s): restoring first",
	     (long long)json_integer_value(json_object_get(owner, "pid")), n, n == 1 ? "" : "s");
	if (tier_take_down(j, NULL, NULL) < 0) {
		error("could not restore the interrupted run's changes; fix the cause above and run "
		      "'swapbench restore'");
		return -1;
	}
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct journal j;
	bool dry = false;
	size_t n;
	int c, rc;

	while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			dry = true;
			break;
		case 'h':
			printf(usage_text, state_dir());
			return 0;
		default:
			fprintf(stderr, "Try 'swapbench restore --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("restore", "unexpected argument '%s'", argv[optind]);
	if (!dry && require_root("swapbench restore"))
		return 1;
	sig_install();
	if (journal_open(&j, dry) < 0)
		return 1;
	if (journal_empty(&j)) {
		info("nothing to restore: no journal in '%s'", j.dir);
		journal_close(&j);
		return 0;
	}
	n = json_array_size(json_object_get(j.doc, "changes"));
	if (!dry)
		info("undoing %zu change%s recorded in '%s'", n, n == 1 ? "" : "s", j.path);
	rc = tier_take_down(&j, NULL, NULL);
	if (rc == 0 && !dry)
		info("restored: the machine is as swapbench found it");
	journal_close(&j);
	return rc < 0 ? 1 : 0;
}
