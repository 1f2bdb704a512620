/* Files a root daemon writes where an unprivileged user may reach the
 * path (a pid file, a log, statistics in /tmp): a symbolic link planted
 * there is not followed (O_NOFOLLOW), an existing file must be a regular
 * file owned by the caller, and a replacement is written to a fresh
 * mkstemp() file beside the target and renamed over it.  Try:
 * tests/test-hostile-files.sh. */
#ifndef SWAPBENCH_FILE_H
#define SWAPBENCH_FILE_H

#include <sys/types.h>

/* Opens path for writing (flags: O_APPEND or O_TRUNC, plus O_WRONLY /
 * O_CREAT / O_NOFOLLOW / O_CLOEXEC added here), creating it with mode.
 * Returns the descriptor, or -1 with errno set: ELOOP for a symbolic
 * link, EPERM for a file owned by someone else, EINVAL for anything but a
 * regular file. */
int file_open_private(const char *path, int flags, mode_t mode);

/* Why file_open_private refused, for a message: "a symbolic link
 * (refused)", ... or strerror(err). */
const char *file_why(int err);

/* Replaces path with what fill() writes to a new temporary file in the
 * same directory (mode 0644), then renames it over path; a symbolic link
 * at path is replaced, never followed.  fill returns 0 or -1.  Returns 0,
 * or -1 with errno set (the temporary file removed). */
int file_replace(const char *path, int (*fill)(int fd, void *arg), void *arg);

#endif
