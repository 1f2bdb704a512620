/* The changes swapbench makes to the machine, each recorded in the undo
 * journal (journal.h) before it is made.  A kind is one row of CHANGE_KINDS:
 * its undo and how to say it.  The change_* functions below make a change
 * of a kind: journal first, then act, then note what was learnt; in a dry
 * run they print "would: ..." and act not.  Each reports its own errors
 * and returns -1; 0 on success.
 *
 *   kind      fields                        undo
 *   value     path, old                     write old back when it differs
 *   write     path, value                   write value (retried while EBUSY)
 *   run       argv, timeout_s, [if_exists]  run the command (only while
 *                                           if_exists exists, when given)
 *   swapon    dev                           swapoff (failure stops the replay)
 *   swapoff   dev, priority                 swapon at the old priority
 *   file      path                          unlink, unless active swap
 *   dir       path                          unlink its plain files, rmdir
 *   loop      file, dev                     losetup -d, unless active swap
 *   mount     dir, fstype                   umount (fusermount3 -u for FUSE)
 *   process   name, pidfile, pid, start_ticks, comm, not_before_ticks, backs
 *                                           SIGTERM, then SIGKILL once
 *                                           `backs` is no longer swap; only
 *                                           to a process whose start time
 *                                           and name match those recorded
 *   cgroup    path                          kill its tasks, rmdir
 *   zram_add  control, present, [id]        hot_remove the device added
 *                                           (id), or, when swapbench died
 *                                           before noting it, each unused
 *                                           one not in present */
#ifndef SWAPBENCH_CHANGE_H
#define SWAPBENCH_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "journal.h"
#include "procfs.h"

/* X(kind, barrier, fields): a failed undo of a barrier kind stops the
 * replay; FIELDS are the ones an entry must have ("a,b": strings, "a[]": an
 * array of strings or numbers), checked alike by a restore and its dry run. */
#define CHANGE_KINDS(X) \
	X(value, false, "path,old") X(write, false, "path,value") X(run, false, "argv[]") \
	X(swapon, true, "dev") X(swapoff, false, "dev") X(file, false, "path") \
	X(dir, false, "path") X(loop, false, "file") X(mount, false, "dir") \
	X(process, false, "name") X(cgroup, false, "path") X(zram_add, false, "control,present[]")

struct change_kind {
	const char *name;
	/* Undoes change c; returns 0 when the machine no longer has it. */
	int (*undo)(json_t *c);
	/* Describes the undo ("swapoff '/dev/zram0'") into buf. */
	void (*say)(const json_t *c, char *buf, size_t len);
	/* A failed undo of this kind stops the replay. */
	bool barrier;
	/* The fields an entry must have (see CHANGE_KINDS). */
	const char *fields;
};

/* The kind named by c's "kind", or NULL. */
const struct change_kind *change_kind(const json_t *c);

/* Whether entry C can be undone as it stands: a known kind with its
 * fields.  0, or -1 with the reason in why. */
int change_check(const json_t *c, char *why, size_t len);

/* value: records PATH's current value (the bracketed word of a choice file
 * such as comp_algorithm or THP "enabled") and writes VALUE; nothing
 * happens when it already holds VALUE. */
int change_value(struct journal *j, const char *path, const char *value);

/* write: records that UNDO_VALUE is to be written to PATH on undo (zram's
 * reset, zram-control's hot_remove, cgroup.subtree_control's -memory).
 * Only records; the caller makes the change.  Returns the index or -1. */
int change_on_undo_write(struct journal *j, const char *path, const char *undo_value);

/* run: records a command to run on undo.  Returns the index or -1. */
int change_on_undo_run(struct journal *j, const char *const argv[], int timeout_s);

/* run, conditional: on undo the command runs only while IF_EXISTS exists
 * (vramd --ublk-del N while the kernel still has ublk device N).  Returns
 * the index or -1. */
int change_on_undo_run_if(struct journal *j, const char *const argv[], int timeout_s,
			  const char *if_exists);

/* swapon: mkswap is the caller's; runs swapon --priority PRIO DEV (prio < 0:
 * the kernel's default). */
int change_swapon(struct journal *j, const char *dev, int prio);

/* swapoff: takes someone else's swap area A off for the run. */
int change_swapoff(struct journal *j, const struct swap_area *a);

/* file: creates PATH (O_EXCL, mode 0600) and returns its fd in *fd (-1 in
 * a dry run). */
int change_file(struct journal *j, const char *path, int *fd);

/* dir: creates directory PATH (mode 0700). */
int change_dir(struct journal *j, const char *path);

/* loop: attaches FILE to a free loop device, with direct I/O when it can
 * (a fallback to buffered I/O is reported as a warning); the device path
 * goes to dev ("/dev/loopN" in a dry run). */
int change_loop(struct journal *j, const char *file, char *dev, size_t len, bool *direct_io);

/* mount: records that DIR (of type FSTYPE) is to be unmounted on undo,
 * then runs ARGV (which mounts it) unless argv is NULL (a daemon such as
 * nbdfuse mounts it: the caller starts it).  Returns the index or -1. */
int change_mount(struct journal *j, const char *dir, const char *fstype, const char *const argv[]);

/* process: records a daemon about to be started (identified later by
 * change_process_pid, or by PIDFILE should swapbench die first: then only
 * a process of that name started after this entry); BACKS is the block
 * device whose swap depends on it (or NULL).  Returns the index or -1. */
int change_process(struct journal *j, const char *name, const char *pidfile, const char *backs);

/* Notes PID, its start time and its name in process change idx: the
 * undo signals it only while all three still match. */
int change_process_pid(struct journal *j, int idx, pid_t pid);

/* cgroup: creates the cgroup directory PATH. */
int change_cgroup(struct journal *j, const char *path);

/* zram_add: records the zram devices present under CONTROL's block class
 * (/sys/class/zram-control), then adds one (reads CONTROL/hot_add) and
 * notes its number, copied to id.  The record comes first, so that a crash
 * between the two leaves nothing the undo cannot find. */
int change_zram_add(struct journal *j, const char *control, char *id, size_t len);

#endif
