/* The undo journal: every change swapbench makes to the machine is written
 * to STATE_DIR/state.json (default /run/swapbench, or $SWAPBENCH_STATE_DIR)
 * *before* it is made, with what it takes to undo it.  Replaying the
 * journal undoes the changes in reverse order; it runs on normal exit, on
 * error, on SIGINT/SIGTERM, and on the next start or `swapbench restore`
 * after a crash or kill -9.  Every undo is idempotent and checks the
 * machine first (a change recorded but never made undoes to nothing), so a
 * crash at any point, even during a restore, leaves a journal that finishes
 * the job.  One swapbench at a time changes the machine: the journal is
 * guarded by an flock on STATE_DIR/lock.
 *
 * Document (schema "swapbench-state", version 1): boot_id, owner {pid,
 * start_ticks}, created_unix_ns, kept (a tier left up on purpose by
 * `swapbench tier up`), tier {name, settings, state, up}, changes [...],
 * each change {kind, ...} as listed in change.h.  Try:
 *   sudo swapbench tier up zram && cat /run/swapbench/state.json */
#ifndef SWAPBENCH_JOURNAL_H
#define SWAPBENCH_JOURNAL_H

#include <limits.h>
#include <stdbool.h>

#include <jansson.h>

#define JOURNAL_SCHEMA "swapbench-state"
#define JOURNAL_VERSION 1

struct journal {
	char dir[PATH_MAX];	/* the state directory */
	char path[PATH_MAX];	/* DIR/state.json */
	int lock_fd;		/* -1 when not locked (dry runs, readers) */
	bool dry_run;		/* keep everything in memory, print instead of act */
	json_t *doc;		/* the document; owned */
};

/* The state directory: $SWAPBENCH_STATE_DIR or /run/swapbench. */
const char *state_dir(void);

/* Prepares j for a command that changes the machine: creates the state
 * directory (mode 0700; refuses one that others may write), takes the lock
 * (refusing, with the holder's pid, when another swapbench has it) and
 * loads any existing journal.  A dry run takes no lock and creates nothing.
 * Returns 0 or -1 with a message. */
int journal_open(struct journal *j, bool dry_run);

/* Loads STATE_DIR/state.json without locking (for `tier show`); returns 1
 * when there is one, 0 when not, -1 on a broken file (message given). */
int journal_peek(struct journal *j);

/* Releases the lock and frees the document. */
void journal_close(struct journal *j);

/* Whether the journal records no change and no tier. */
bool journal_empty(const struct journal *j);

/* Starts a fresh journal owned by this process (after a restore of any
 * earlier one).  Returns 0 or -1. */
int journal_begin(struct journal *j);

/* Writes the document to disk atomically (temporary file, fsync, rename,
 * fsync of the directory); an empty journal removes the file.  No-op in a
 * dry run.  Returns 0 or -1 with a message. */
int journal_save(struct journal *j);

/* Appends CHANGE (reference stolen) and saves.  Returns its index, or -1
 * with a message (nothing may then be changed). */
int journal_add(struct journal *j, json_t *change);

/* Sets changes[idx].key = value (stolen) and saves: what a change learned
 * once made (the loop device losetup chose, a daemon's pid). */
int journal_note(struct journal *j, int idx, const char *key, json_t *value);

/* Undoes every change, last first, removing each from the journal (saved
 * after each step) once undone.  A failed undo is reported, kept and
 * skipped, except that a failed swapoff stops the replay: nothing under
 * live swap is pulled away.  In a dry run, prints each undo.  Returns 0
 * when the journal is empty at the end (and its file gone), -1 otherwise. */
int journal_replay(struct journal *j);

#endif
