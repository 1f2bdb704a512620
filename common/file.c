/* Files a root daemon writes: see file.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

int file_open_private(const char *path, int flags, mode_t mode)
{
	struct stat st;
	int fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
		  (flags & O_APPEND), mode);
	if (fd < 0) {
		if (errno == ENXIO)
			errno = EINVAL; /* a FIFO with no reader, a device without one */
		return -1;
	}
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL; /* a FIFO or device: O_NONBLOCK kept the open from waiting */
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		errno = EPERM;
		goto fail;
	}
	/* Truncated only once it is known to be ours. */
	if ((flags & O_TRUNC) && ftruncate(fd, 0) < 0)
		goto fail;
	if (fcntl(fd, F_SETFL, flags & O_APPEND) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

const char *file_why(int err)
{
	switch (err) {
	case ELOOP: return "it is a symbolic link (refused)";
	case EPERM: return "it belongs to another user (refused)";
	case EINVAL: return "it is not a regular file (refused)";
	}
	return strerror(err);
}

int file_replace(const char *path, int (*fill)(int fd, void *arg), void *arg)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + sizeof ".XXXXXX");
	int fd, saved;

	if (!tmp)
		return -1;
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".XXXXXX", sizeof ".XXXXXX");
	fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL: never an existing file or link */
	if (fd < 0) {
		saved = errno;
		free(tmp);
		errno = saved;
		return -1;
	}
	if (fchmod(fd, 0644) < 0 || fill(fd, arg) < 0) {
		saved = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		free(tmp);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0) {
		saved = errno;
		unlink(tmp);
		free(tmp);
		errno = saved;
		return -1;
	}
	if (rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		free(tmp);
		errno = saved;
		return -1;
	}
	free(tmp);
	return 0;
}
