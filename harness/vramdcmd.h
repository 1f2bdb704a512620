/* The vramd command lines of the nbd tier, built by pure functions so that
 * every mode is unit-tested, even ublk on hosts without ublk_drv
 * (tests/unit-harness-vramdcmd.c).  vramd serves its export one of three
 * ways: NBD on a Unix socket (transports kernel and nbdfuse), as
 * /dev/ublkbN (ublk) or as the file MOUNTPOINT/export of a FUSE mount
 * (vramd-fuse):
 *   vramd -b ram -s 1G --socket SOCK --max-connections 8 -p PID ... --swap
 *   vramd -b ram -s 1G --ublk --ublk-id 0 --queue-depth 64 -p PID ... --swap
 *   vramd -b ram -s 1G --fuse MNT --fuse-uring auto -p PID ... --swap
 *   vramd --ublk-del 0 */
#ifndef SWAPBENCH_VRAMDCMD_H
#define SWAPBENCH_VRAMDCMD_H

#include <stdbool.h>
#include <stddef.h>

enum vramd_mode { VRAMD_SOCKET, VRAMD_UBLK, VRAMD_FUSE };

struct vramd_conf {
	const char *vramd;		/* the binary */
	const char *backend;		/* vram, ram or null */
	const char *size;		/* the export's size, as vramd reads it ("1G") */
	enum vramd_mode mode;
	const char *socket;		/* VRAMD_SOCKET: the Unix socket */
	unsigned max_connections;	/* VRAMD_SOCKET: 0 for vramd's default */
	int ublk_id;			/* VRAMD_UBLK: N of /dev/ublkbN; -1: the kernel's choice */
	const char *mountpoint;		/* VRAMD_FUSE: an existing empty directory */
	const char *fuse_uring;		/* VRAMD_FUSE: auto, on, off; NULL: vramd's default */
	unsigned queue_depth;		/* VRAMD_UBLK, VRAMD_FUSE: 0 for vramd's default */
	const char *threads;		/* as the user gave them, or NULL */
	const char *gpu;
	const char *busy_poll;
	const char *pidfile;		/* required */
	const char *log;		/* required */
	const char *stats_file;		/* required */
	bool swap;			/* --swap, else --no-swap */
};

/* Fills argv (room for max pointers, NULL-terminated) with the command that
 * starts vramd as c says; numbers are formatted into buf (at least 48
 * bytes).  Returns the argument count, or -1 for a bad conf (a missing
 * binary, backend, size or runtime file, a mode without its target, a
 * fuse_uring other than auto/on/off, a ublk_id below -1) or too little
 * room. */
int vramd_argv(const struct vramd_conf *c, const char **argv, int max, char *buf, size_t len);

/* The command that deletes ublk device ID that a killed vramd left
 * behind: VRAMD --ublk-del ID.  Same returns. */
int vramd_ublk_del_argv(const char *vramd, int id, const char **argv, int max, char *buf, size_t len);

/* Whether OUT (what vramd printed as it started: its stdout, perhaps with
 * messages around) has WANT as a line of its own: vramd names the device
 * it made that way once the device serves I/O. */
bool vramd_printed(const char *out, const char *want);

/* Whether TEXT (vramd --help) documents OPTION ("--fuse"): the option
 * followed by a space, '=' or the end, so "--fuse" is not found in
 * "--fuse-uring". */
bool vramd_has_option(const char *text, const char *option);

#endif
