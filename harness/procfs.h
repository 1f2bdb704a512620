/* Exact-key parsers for /proc and sysfs texts, and the small file helpers
 * that read and write them.  The parsers are pure functions of the text
 * (tests/unit-harness-procfs.c feeds them captured files from
 * tests/fixtures/); keys are compared whole, never by prefix.  Try:
 *   build/tests/unit-harness-procfs */
#ifndef SWAPBENCH_PROCFS_H
#define SWAPBENCH_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* --- files ----------------------------------------------------------------- */

/* Reads up to len-1 bytes of PATH into buf, NUL-terminated, trailing
 * newlines removed.  Returns the length, or -1 with errno set (no message:
 * a missing file is often an answer, not an error). */
ssize_t read_text(const char *path, char *buf, size_t len);

/* Reads PATH whole into a malloc'd NUL-terminated string (caller frees);
 * NULL with errno set on failure. */
char *read_all(const char *path);

/* Writes VALUE (a newline is not added) to PATH in one write(2).  Reports
 * "cannot write 'VALUE' to 'PATH': ..." and returns -1 on failure, unless
 * quiet (then errno tells). */
int write_text(const char *path, const char *value, bool quiet);

/* snprintf for paths: returns 0, or -1 with a message ("path too long")
 * when the result does not fit. */
int pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A directory of the project's data files (scenarios, plots) into buf:
 * $ENV when set, else NAME beside the build directory of this binary
 * (EXE_DIR/../NAME) when PROBE exists in it, else EXE_DIR/../share/swapbench/
 * NAME (make install) when PROBE exists there, else NAME (relative). */
void data_dir(const char *env, const char *name, const char *probe, char *buf, size_t len);

/* The running binary's path (/proc/self/exe) into buf, or its directory
 * with self_dir.  0, or -1 when it cannot be read. */
int self_exe(char *buf, size_t len);
int self_dir(char *buf, size_t len);

/* --- key/value texts --------------------------------------------------------- */

/* Iterates over "key value" lines as found in /proc/vmstat, memory.stat,
 * memory.events ("key value"), /proc/PID/status and /proc/meminfo
 * ("Key:  value kB") and /proc/crypto ("name   : lz4").  The key is the
 * leading run of characters up to blank or ':'; one ':' and the blanks
 * around it are skipped; the value is the rest of the line, right-trimmed.
 * *pos starts at the text; returns false at the end.  Lines without a key
 * are skipped. */
bool kv_next(const char **pos, char *key, size_t klen, char *val, size_t vlen);

/* The value of KEY (whole-key match) parsed as an unsigned decimal (a unit
 * such as " kB" after the number is allowed and ignored).  Returns 0, or -1
 * when the key is missing or its value is not a number. */
int kv_u64(const char *text, const char *key, uint64_t *out);

/* The value of KEY as text, copied into val.  0 or -1 (missing). */
int kv_str(const char *text, const char *key, char *val, size_t vlen);

/* Whether some line of a key/value text has KEY with exactly VALUE (e.g.
 * /proc/crypto "name : lz4"). */
bool kv_has(const char *text, const char *key, const char *value);

/* --- positional counter files ------------------------------------------------ */

/* One field of a positional file: its JSON key (with unit) and a factor
 * applied to the raw number (512 for sectors reported as bytes). */
struct field {
	const char *key;
	uint64_t scale;
};

/* Splits TEXT into blank-separated unsigned numbers and sets out[key] for
 * each of the first n fields present; a shorter text (older kernels) sets
 * fewer keys.  Returns how many were set, or -1 when a field is not a number. */
int fields_to_json(const char *text, const struct field *f, unsigned n, json_t *out);

/* /sys/block/DEV/stat (Documentation/block/stat.rst), 11 to 17 fields. */
extern const struct field blockstat_fields[];
extern const unsigned blockstat_nfields;
/* /sys/block/zramN/mm_stat and io_stat (Documentation/admin-guide/blockdev/zram.rst). */
extern const struct field zram_mm_fields[];
extern const unsigned zram_mm_nfields;
extern const struct field zram_io_fields[];
extern const unsigned zram_io_nfields;

/* --- choice files: "[lzo-rle] lzo lz4", "always [madvise] never" ------------ */

/* Copies the bracketed (current) word into cur and, when list is not NULL,
 * all the words without brackets, blank-separated, into list.  Returns 0,
 * or -1 when no word is bracketed. */
int choice_parse(const char *text, char *cur, size_t curlen, char *list, size_t listlen);

/* Whether WORD is one of the blank-separated words of LIST (whole words). */
bool word_in(const char *list, const char *word);

/* The compression algorithms in a /proc/crypto text (records whose type is
 * scomp, acomp or compression), blank-separated and without repeats, into
 * list.  Returns how many. */
int crypto_compressors(const char *text, char *list, size_t len);

/* --- /proc/swaps --------------------------------------------------------------- */

struct swap_area {
	char name[256];	/* unescaped path (\040 etc. decoded) */
	char type[16];	/* "partition" or "file" */
	uint64_t size_kib, used_kib;
	int priority;
};

/* Parses /proc/swaps (header line first).  Fills up to max areas and returns
 * how many there are (which may exceed max), or -1 on a malformed line. */
int swaps_parse(const char *text, struct swap_area *a, int max);

/* Reads /proc/swaps now; same return as swaps_parse (-1 also when unreadable,
 * with a message). */
int swaps_read(struct swap_area *a, int max);

/* The area named NAME (exact path) in /proc/swaps now, copied to *out when
 * not NULL.  Returns true when active. */
bool swap_active(const char *name, struct swap_area *out);

/* --- /proc/mounts ----------------------------------------------------------------- */

struct mount_entry {
	char source[256], dir[512], type[64], opts[512];
};

/* Parses the next line of a /proc/mounts text (octal escapes decoded);
 * *pos advances.  Returns false at the end. */
bool mounts_next(const char **pos, struct mount_entry *m);

/* Whether DIR is a mount point in /proc/mounts now (exact match). */
bool is_mounted(const char *dir, char *type, size_t tlen);

/* Whether OPTS (comma-separated) contains WORD as a whole option. */
bool opt_has(const char *opts, const char *word);

/* --- /proc/PID ----------------------------------------------------------------------- */

/* From a /proc/PID/stat text: the state letter, and the start time in clock
 * ticks since boot (field 22), parsed after the last ')' so that any comm
 * is safe.  Returns 0 or -1. */
int pidstat_parse(const char *text, char *state, uint64_t *start_ticks);

/* From a /proc/PID/stat text: utime + stime (fields 14 and 15), in clock
 * ticks.  Returns 0 or -1. */
int pidstat_cpu_ticks(const char *text, uint64_t *ticks);

/* The CPU time (user + system) PID has used, in ns.  0, or -1 when there is
 * no such process. */
int pid_cpu_ns(pid_t pid, uint64_t *ns);

/* Reads /proc/PID/stat: 0 and the fields, or -1 when there is no such
 * process (or it is a zombie: *state 'Z' is returned as -1 too). */
int pid_stat(pid_t pid, char *state, uint64_t *start_ticks);

/* Whether a process PID exists (not a zombie), whoever it is. */
bool pid_running(pid_t pid);

/* PID's name (/proc/PID/comm, at most 15 bytes) into buf; 0 or -1. */
int pid_comm(pid_t pid, char *buf, size_t len);

/* Whether PID is the process that was recorded with start time
 * START_TICKS and name COMM: both must have been recorded (non-zero, not
 * empty) and both must match.  The test before any signal to a process
 * swapbench did not just fork itself. */
bool pid_is(pid_t pid, uint64_t start_ticks, const char *comm);

/* Now, in the clock ticks of /proc/PID/stat's start time (since boot):
 * a process started later has a start time at or above it. */
uint64_t boot_ticks_now(void);

/* VmSwap of PID in bytes (from /proc/PID/status); -1 when unknown. */
int pid_vmswap(pid_t pid, uint64_t *bytes);

/* --- misc ----------------------------------------------------------------------------- */

/* /sys/dev/block/MAJ:MIN name resolution: the kernel name ("vda", "loop3")
 * of a block device number.  Returns 0 or -1. */
int blockdev_name(dev_t dev, char *name, size_t len);

/* Adds /sys/block/NAME/stat (or, for partitions, /sys/dev/block/M:m/stat)
 * fields to out.  Returns 0 or -1 (no message). */
int blockstat_json(dev_t dev, json_t *out);

/* Copies the current boot id (/proc/sys/kernel/random/boot_id). */
int boot_id(char *buf, size_t len);

/* A stable id of this machine that does not reveal /etc/machine-id: 16 hex
 * digits of FNV-1a (64 bits) over "swapbench:" and the id, or the DMI
 * product UUID (/sys/class/dmi/id/product_uuid, root's) where there is no
 * machine id.  -1 when there is neither (buf then ""). */
int machine_id_hash(char *buf, size_t len);

/* The first "model name" of /proc/cpuinfo, or "" (-1). */
int cpu_model(char *buf, size_t len);

/* Sets "machine_id" (machine_id_hash, or null), "cpu_model" and
 * "swapbench_commit" (the build's) in obj: who measured what, on what. */
void provenance_json(json_t *obj);

#endif
