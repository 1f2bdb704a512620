/* Swap on storage (swap files and partitions): see storage.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "parse.h"
#include "procfs.h"
#include "run.h"
#include "storage.h"

#ifndef BTRFS_SUPER_MAGIC
#define BTRFS_SUPER_MAGIC 0x9123683E
#endif
#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif
#ifndef F2FS_SUPER_MAGIC
#define F2FS_SUPER_MAGIC 0xF2F52010
#endif
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif
#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

/* The smallest device swapbench formats as swap: mkswap wants ten pages,
 * 40 KiB, or 640 KiB where pages are 64 KiB. */
#define DEVICE_MIN_BYTES (1U << 20)

/* Free space kept beyond the swap file, so the filesystem is not filled. */
#define SPARE_BYTES (256ULL << 20)

static const struct {
	unsigned long magic;
	const char *name;
	bool swapfile;	/* the kernel can swap to a file there */
} filesystems[] = {
	{ EXT4_SUPER_MAGIC, "ext4", true },	/* also ext2 and ext3 */
	{ XFS_SUPER_MAGIC, "xfs", true },
	{ BTRFS_SUPER_MAGIC, "btrfs", true },
	{ F2FS_SUPER_MAGIC, "f2fs", true },
	{ TMPFS_MAGIC, "tmpfs", false },
	{ RAMFS_MAGIC, "ramfs", false },
	{ NFS_SUPER_MAGIC, "nfs", false },
	{ OVERLAYFS_SUPER_MAGIC, "overlay", false },
	{ SQUASHFS_MAGIC, "squashfs", false },
	{ FUSE_SUPER_MAGIC, "fuse", false },
};

static const char *fs_name(unsigned long magic, bool *swapfile)
{
	size_t i;

	for (i = 0; i < sizeof filesystems / sizeof filesystems[0]; i++) {
		if (filesystems[i].magic == magic) {
			*swapfile = filesystems[i].swapfile;
			return filesystems[i].name;
		}
	}
	*swapfile = true; /* unknown: let swapon judge */
	return "unknown";
}

static bool file_supported(struct tier *t, const char *file, char *why, size_t len)
{
	char dir[PATH_MAX], *slash, size_s[32], free_s[32];
	struct statfs sf;
	struct statvfs sv;
	uint64_t size = 0, avail;
	bool swapfile;
	const char *fs;

	if (file[0] != '/') {
		snprintf(why, len, "--file: '%s' is not an absolute path", file);
		return false;
	}
	if (access(file, F_OK) == 0) {
		snprintf(why, len, "'%s' exists already; remove it or choose another --file", file);
		return false;
	}
	snprintf(dir, sizeof dir, "%s", file);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (statfs(dir, &sf) < 0 || statvfs(dir, &sv) < 0) {
		snprintf(why, len, "cannot inspect directory '%s': %s", dir, strerror(errno));
		return false;
	}
	fs = fs_name((unsigned long)sf.f_type, &swapfile);
	if (!swapfile) {
		snprintf(why, len, "'%s' is on %s, which cannot hold a swap file; choose --file "
			 "on a disk filesystem (ext4, xfs, btrfs)", dir, fs);
		return false;
	}
	if (tier_size(t, "size", &size) < 0) {
		why[0] = '\0'; /* reported by tier_size */
		return false;
	}
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail < size + SPARE_BYTES) {
		snprintf(why, len, "'%s' has %s free; a %s swap file needs that plus 256 MiB to spare",
			 dir, format_size(avail, free_s, sizeof free_s),
			 format_size(size, size_s, sizeof size_s));
		return false;
	}
	return true;
}

/* The UUID ("" when all zeros) and label of the swap area on DEV, read
 * from its header: "SWAPSPACE2" in the last 10 bytes of the first page,
 * the UUID at byte 1036 and the label at 1052, 16 bytes each.  1 when DEV
 * holds a swap area, 0 when not, -1 when it cannot be read. */
static int swap_signature(const char *dev, char *uuid, size_t ulen, char *label, size_t llen)
{
	static const size_t pages[] = { 4096, 8192, 16384, 65536 };
	unsigned char *h = malloc(65536), *u;
	ssize_t n = -1;
	size_t i, k;
	int fd, rc = 0;

	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && h)
		n = pread(fd, h, 65536, 0);
	if (fd >= 0)
		close(fd);
	if (n < 1068) {
		free(h);
		return fd < 0 || !h ? -1 : 0;
	}
	for (i = 0; i < sizeof pages / sizeof pages[0] && !rc; i++)
		if ((size_t)n >= pages[i] && !memcmp(h + pages[i] - 10, "SWAPSPACE2", 10))
			rc = 1;
	if (rc) {
		u = h + 1036;
		uuid[0] = '\0';
		for (k = 0; k < 16 && !u[k]; k++)
			;
		if (k < 16)
			snprintf(uuid, ulen, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
				 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5], u[6],
				 u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
		snprintf(label, llen, "%.16s", (const char *)h + 1052);
	}
	free(h);
	return rc;
}

/* The swap areas this process made (device and UUID): an earlier run of
 * the same invocation's, which a later repeat may format again. */
static struct {
	dev_t rdev;
	char uuid[40];
} ours[16];
static unsigned nours;

static void ours_add(dev_t rdev, const char *uuid)
{
	unsigned i;

	for (i = 0; i < nours; i++)
		if (ours[i].rdev == rdev) {
			snprintf(ours[i].uuid, sizeof ours[i].uuid, "%s", uuid);
			return;
		}
	if (nours < sizeof ours / sizeof ours[0]) {
		ours[nours].rdev = rdev;
		snprintf(ours[nours++].uuid, sizeof ours[0].uuid, "%s", uuid);
	}
}

static bool ours_has(dev_t rdev, const char *uuid)
{
	unsigned i;

	for (i = 0; i < nours; i++)
		if (ours[i].rdev == rdev && uuid[0] && !strcmp(ours[i].uuid, uuid))
			return true;
	return false;
}

static bool device_supported(struct tier *t, const char *dev, char *why, size_t len)
{
	const char *blkid[] = { "blkid", "-p", "-o", "value", "-s", "TYPE", dev, NULL };
	char uuid[40], label[20];
	struct run_result r;
	struct stat st;
	uint64_t bytes;
	bool force = false;
	int fd;

	if (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode)) {
		snprintf(why, len, "--device: '%s' is not a block device", dev);
		return false;
	}
	if (swap_active(dev, NULL)) {
		snprintf(why, len, "--device: '%s' is active swap already", dev);
		return false;
	}
	/* O_EXCL on a block device fails while it is mounted or held. */
	fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "--device: '%s' is in use (mounted or held): %s", dev, strerror(errno));
		return false;
	}
	/* An empty device (a zram without a disksize) is refused here, not
	 * by mkswap halfway through setting the tier up. */
	if (ioctl(fd, BLKGETSIZE64, &bytes) == 0 && bytes < DEVICE_MIN_BYTES) {
		snprintf(why, len, "--device: '%s' holds %" PRIu64 " bytes, too few for swap (at least "
			 "%u KiB)", dev, bytes, DEVICE_MIN_BYTES >> 10);
		close(fd);
		return false;
	}
	close(fd);
	if (tier_bool(t, "force", &force) < 0) {
		why[0] = '\0';
		return false;
	}
	/* Another system's swap (an fstab line naming its UUID or label):
	 * mkswap would give it a new UUID and drop the label.  Not the one an
	 * earlier run of this invocation made there (its repeats). */
	if (!force && swap_signature(dev, uuid, sizeof uuid, label, sizeof label) == 1 &&
	    !ours_has(st.st_rdev, uuid)) {
		snprintf(why, len, "--device: '%s' is a swap area already (UUID %s, label '%s'), "
			 "perhaps another system's: swapbench would reformat it (--force to use it; "
			 "its UUID and label are kept)", dev, uuid[0] ? uuid : "none", label);
		return false;
	}
	run(blkid, TIMEOUT_QUICK_S, RUN_QUIET, &r);
	if (!force && r.exit_code == 0 && r.out[0] && strcmp(r.out, "swap")) {
		snprintf(why, len, "--device: '%s' holds a '%s' signature; mkswap would destroy it "
			 "(--force to do so)", dev, r.out);
		return false;
	}
	return true;
}

bool storage_supported(struct tier *t, char *why, size_t len)
{
	const char *file = tier_get(t, "file"), *dev = tier_get(t, "device");

	if (json_object_get(t->settings, "file") && dev) {
		snprintf(why, len, "--file and --device exclude each other");
		return false;
	}
	if (dev)
		return device_supported(t, dev, why, len);
	if (!file) {
		snprintf(why, len, "no --file or --device");
		return false;
	}
	return file_supported(t, file, why, len);
}

/* Fills FD with size bytes of allocated blocks: fallocate, else zeros. */
static int allocate(int fd, const char *path, uint64_t size)
{
	static char zeros[1 << 20];
	uint64_t done = 0;

	if (fallocate(fd, 0, 0, (off_t)size) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS) {
		error("cannot allocate %" PRIu64 " bytes for '%s': %m", size, path);
		return -1;
	}
	while (done < size) {
		size_t n = size - done < sizeof zeros ? (size_t)(size - done) : sizeof zeros;
		ssize_t w = write(fd, zeros, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			error("cannot write '%s': %m", path);
			return -1;
		}
		done += (uint64_t)w;
	}
	return 0;
}

static int file_setup(struct tier *t, const char *file, uint64_t size)
{
	char bd[32], sz[32];
	struct statfs sf;
	struct stat st;
	bool swapfile;
	int fd;

	if (change_file(t->j, file, &fd) < 0)
		return -1;
	if (t->dry_run) {
		printf("would: allocate %s in '%s'\n", format_size(size, sz, sizeof sz), file);
		return tier_swapon(t, file);
	}
	if (fstatfs(fd, &sf) < 0 || fstat(fd, &st) < 0) {
		error("cannot stat '%s': %m", file);
		goto err;
	}
	json_object_set_new(t->state, "fs_type",
			    json_string(fs_name((unsigned long)sf.f_type, &swapfile)));
	if ((unsigned long)sf.f_type == BTRFS_SUPER_MAGIC) {
		/* btrfs swaps only to No_COW files, set while still empty. */
		int flags = 0;

		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 ||
		    (flags |= FS_NOCOW_FL, ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)) {
			error("cannot mark '%s' No_COW for btrfs: %m", file);
			goto err;
		}
	}
	if (allocate(fd, file, size) < 0)
		goto err;
	if (fsync(fd) < 0) {
		error("cannot fsync '%s': %m", file);
		goto err;
	}
	close(fd);
	snprintf(bd, sizeof bd, "%u:%u", major(st.st_dev), minor(st.st_dev));
	json_object_set_new(t->state, "block_dev", json_string(bd));
	return tier_swapon(t, file);
err:
	close(fd);
	return -1;
}

int storage_setup(struct tier *t)
{
	const char *dev = tier_get(t, "device"), *file = tier_get(t, "file");
	char bd[32], uuid[40], label[20];
	uint64_t size = 0;
	struct stat st = { 0 };

	if (!dev) {
		if (tier_size(t, "size", &size) < 0)
			return -1;
		json_object_set_new(t->state, "backing", json_string("file"));
		return file_setup(t, file, size);
	}
	json_object_set_new(t->state, "backing", json_string("device"));
	if (swap_signature(dev, uuid, sizeof uuid, label, sizeof label) == 1) {
		info("'%s' keeps its swap UUID %s and label '%s'", dev, uuid[0] ? uuid : "(none)", label);
		if (uuid[0])
			json_object_set_new(t->state, "swap_uuid", json_string(uuid));
		if (label[0])
			json_object_set_new(t->state, "swap_label", json_string(label));
	}
	if (stat(dev, &st) == 0) {
		snprintf(bd, sizeof bd, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
		json_object_set_new(t->state, "block_dev", json_string(bd));
	}
	if (tier_swapon(t, dev) < 0)
		return -1;
	if (S_ISBLK(st.st_mode) && swap_signature(dev, uuid, sizeof uuid, label, sizeof label) == 1)
		ours_add(st.st_rdev, uuid);
	return 0;
}

void storage_describe(const struct tier *t, json_t *out)
{
	const char *keys[] = { "backing", "block_dev", "fs_type", "swap_dev" };
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = tier_state(t, keys[i]);

		if (v)
			json_object_set_new(out, keys[i], json_string(v));
	}
}

void storage_counters(const struct tier *t, json_t *out)
{
	const char *bd = tier_state(t, "block_dev");
	unsigned ma, mi;
	char name[64];
	json_t *o;

	if (!bd || sscanf(bd, "%u:%u", &ma, &mi) != 2)
		return;
	o = json_object();
	if (blockstat_json(makedev(ma, mi), o) < 0) {
		json_decref(o);
		return;
	}
	if (blockdev_name(makedev(ma, mi), name, sizeof name) == 0)
		json_object_set_new(out, "block_dev", json_string(name));
	json_object_set_new(out, "block_stat", o);
}
