/* The one-file filesystem's FUSE protocol: see fuse-session.h.  Every field
 * the kernel sends is checked against the bytes that came (a request is
 * data, whatever sent it); the answers are fixed by the export's size. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse-session.h"

/* Nothing in this filesystem changes but the file's bytes: the kernel may
 * keep names and attributes for an hour. */
#define VALID_S 3600

/* Bytes of an opcode's fixed arguments, before its variable part (a
 * WRITE's payload, a LOOKUP's name); 0 where all of it is variable. */
static uint32_t fixed_len(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_READ:
	case FUSE_READDIR:
		return sizeof(struct fuse_read_in);
	case FUSE_WRITE:
		return sizeof(struct fuse_write_in);
	case FUSE_FALLOCATE:
		return sizeof(struct fuse_fallocate_in);
	default:
		return 0; /* the rest are read from arg, whole */
	}
}

int fuse_view_classic(uint8_t *buf, size_t n, struct fuse_view *v)
{
	const struct fuse_in_header *h = (const struct fuse_in_header *)buf;
	uint32_t body, fixed;

	if (n < sizeof *h || h->len != n)
		return -1;
	body = (uint32_t)(n - sizeof *h);
	fixed = fixed_len(h->opcode);
	if (fixed > body)
		fixed = body; /* too short: the handler refuses it */
	v->h = h;
	v->arg = buf + sizeof *h;
	v->arg_len = body;
	v->data = buf + sizeof *h + fixed;
	v->data_len = body - fixed;
	return 0;
}

uint32_t fuse_init_out_len(uint32_t minor)
{
	if (minor < 5)
		return 8;  /* FUSE_COMPAT_INIT_OUT_SIZE */
	if (minor < 23)
		return 24; /* FUSE_COMPAT_22_INIT_OUT_SIZE */
	return sizeof(struct fuse_init_out);
}

static void fill_attr(const struct fuse_fs *fs, uint64_t node, struct fuse_attr *a)
{
	memset(a, 0, sizeof *a);
	a->ino = node;
	a->atime = a->mtime = a->ctime = fs->time_s;
	a->blksize = 4096;
	if (node == VRAMD_FUSE_ROOT) {
		a->mode = S_IFDIR | 0700;
		a->nlink = 2;
		a->size = 4096;
		a->blocks = 8;
	} else {
		a->mode = S_IFREG | (fs->read_only ? 0400 : 0600);
		a->nlink = 1;
		a->size = fs->size;
		a->blocks = fs->size / 512;
	}
}

static uint32_t put_attr(const struct fuse_fs *fs, uint64_t node, uint8_t *out)
{
	struct fuse_attr_out ao;

	memset(&ao, 0, sizeof ao);
	ao.attr_valid = VALID_S;
	fill_attr(fs, node, &ao.attr);
	memcpy(out, &ao, sizeof ao);
	return sizeof ao;
}

static enum fuse_action do_init(struct fuse_fs *fs, const struct fuse_view *v, uint8_t *out,
				uint32_t *out_len, int *err)
{
	struct fuse_init_in in;
	struct fuse_init_out o;
	uint64_t offered, want;

	memset(&in, 0, sizeof in);
	if (v->arg_len < 16) { /* major, minor, max_readahead, flags */
		*err = -EINVAL;
		return FUSE_REPLY;
	}
	memcpy(&in, v->arg, v->arg_len < sizeof in ? v->arg_len : sizeof in);
	memset(&o, 0, sizeof o);
	o.major = FUSE_KERNEL_VERSION;
	o.minor = FUSE_KERNEL_MINOR_VERSION;
	if (in.major > FUSE_KERNEL_VERSION) {
		/* The kernel asks again with our major version. */
		memcpy(out, &o, 8);
		*out_len = 8;
		return FUSE_REPLY;
	}
	if (in.major < FUSE_KERNEL_VERSION || in.minor < 23 || fs->inited) {
		*err = -EPROTO;
		return FUSE_REPLY;
	}
	offered = in.flags;
	if ((in.flags & FUSE_INIT_EXT) && v->arg_len >= offsetof(struct fuse_init_in, flags2) + 4)
		offered |= (uint64_t)in.flags2 << 32;
	/* Direct I/O from a loop device comes asynchronously: ASYNC_DIO lets
	 * many requests of it be in flight at once. */
	want = FUSE_ASYNC_DIO | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_INIT_EXT;
	if (fs->want_uring)
		want |= FUSE_OVER_IO_URING;
	want &= offered;
	fs->uring = (want & FUSE_OVER_IO_URING) != 0;
	fs->minor = in.minor < o.minor ? in.minor : o.minor;
	o.max_readahead = in.max_readahead;
	o.flags = (uint32_t)want;
	o.flags2 = (uint32_t)(want >> 32);
	o.max_background = fs->max_background;
	o.congestion_threshold = (uint16_t)(fs->max_background * 3 / 4);
	o.max_write = fs->max_io;
	o.time_gran = 1;
	o.max_pages = (uint16_t)(fs->max_io / (fs->page_size ? fs->page_size : 4096));
	if (!o.max_pages)
		o.max_pages = 1;
	*out_len = fuse_init_out_len(fs->minor);
	memcpy(out, &o, *out_len);
	fs->inited = true;
	return FUSE_REPLY;
}

/* A NUL-terminated name of at most len bytes at p equal to want? */
static bool name_is(const uint8_t *p, uint32_t len, const char *want)
{
	size_t n = strlen(want);

	return len >= n + 1 && memcmp(p, want, n) == 0 && p[n] == 0;
}

static uint32_t put_dirent(uint8_t *out, uint32_t room, uint64_t ino, uint64_t off, uint32_t type,
			   const char *name)
{
	struct fuse_dirent d;
	uint32_t namelen = (uint32_t)strlen(name);
	uint32_t total = (uint32_t)FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);

	if (total > room)
		return 0;
	memset(out, 0, total);
	d.ino = ino;
	d.off = off;
	d.namelen = namelen;
	d.type = type;
	memcpy(out, &d, FUSE_NAME_OFFSET);
	memcpy(out + FUSE_NAME_OFFSET, name, namelen);
	return total;
}

static uint32_t do_readdir(const struct fuse_read_in *in, uint8_t *out, uint32_t cap)
{
	static const struct {
		uint64_t ino;
		uint32_t type;
		const char *name;
	} ents[] = {
		{ VRAMD_FUSE_ROOT, S_IFDIR >> 12, "." },
		{ VRAMD_FUSE_ROOT, S_IFDIR >> 12, ".." },
		{ VRAMD_FUSE_FILE, S_IFREG >> 12, VRAMD_FUSE_NAME },
	};
	uint32_t room = in->size < cap ? in->size : cap, n = 0, k;
	uint64_t i;

	for (i = in->offset; i < sizeof ents / sizeof ents[0]; i++) {
		k = put_dirent(out + n, room - n, ents[i].ino, i + 1, ents[i].type, ents[i].name);
		if (!k)
			break;
		n += k;
	}
	return n;
}

/* The arguments of fixed size `need` copied out of v (they may sit
 * unaligned in a ring's header buffer), or -EINVAL when too short. */
static int args(const struct fuse_view *v, void *dst, size_t need)
{
	if (v->arg_len < need)
		return -EINVAL;
	memcpy(dst, v->arg, need);
	return 0;
}

static enum fuse_action do_io(struct fuse_fs *fs, const struct fuse_view *v, uint8_t *out,
			      uint32_t out_cap, int *err, struct blk_req *io)
{
	uint32_t op = v->h->opcode;

	memset(io, 0, sizeof *io);
	if (v->h->nodeid != VRAMD_FUSE_FILE) {
		*err = v->h->nodeid == VRAMD_FUSE_ROOT ? -EISDIR : -ENOENT;
		return FUSE_REPLY;
	}
	if (op == FUSE_READ) {
		struct fuse_read_in in;
		uint32_t len;

		if ((*err = args(v, &in, sizeof in)) < 0)
			return FUSE_REPLY;
		if (in.offset >= fs->size || in.size == 0) {
			/* Past the end: a short (empty) read, as for any file. */
			return FUSE_REPLY;
		}
		len = in.size;
		if (len > fs->max_io)
			len = fs->max_io;
		if (len > out_cap)
			len = out_cap;
		if (len > fs->size - in.offset)
			len = (uint32_t)(fs->size - in.offset);
		*io = (struct blk_req){ .op = BLK_READ, .len = len, .off = in.offset, .buf = out };
		return FUSE_IO;
	}
	if (op == FUSE_WRITE) {
		struct fuse_write_in in;

		if ((*err = args(v, &in, sizeof in)) < 0)
			return FUSE_REPLY;
		if (in.size > v->data_len || in.size == 0 || in.size > fs->max_io) {
			*err = -EINVAL;
			return FUSE_REPLY;
		}
		if (fs->read_only) {
			*err = -EROFS;
			return FUSE_REPLY;
		}
		if (in.offset > fs->size || in.size > fs->size - in.offset) {
			*err = -ENOSPC; /* the file cannot grow */
			return FUSE_REPLY;
		}
		*io = (struct blk_req){ .op = BLK_WRITE, .len = in.size, .off = in.offset,
					.buf = v->data,
					.fua = (in.flags & O_DSYNC) != 0 /* O_SYNC includes it */ };
		return FUSE_IO;
	}
	if (op == FUSE_FSYNC) {
		*io = (struct blk_req){ .op = BLK_FLUSH };
		return FUSE_IO;
	}
	/* FUSE_FALLOCATE */
	struct fuse_fallocate_in in;

	if ((*err = args(v, &in, sizeof in)) < 0)
		return FUSE_REPLY;
	if (fs->read_only) {
		*err = -EROFS;
		return FUSE_REPLY;
	}
	if (in.offset > fs->size || in.length > fs->size - in.offset) {
		/* Only KEEP_SIZE requests are meaningful: the size is fixed. */
		*err = (in.mode & FALLOC_FL_KEEP_SIZE) ? -EINVAL : -EFBIG;
		return FUSE_REPLY;
	}
	if (in.length == 0 || in.length > UINT32_MAX) {
		*err = -EINVAL;
		return FUSE_REPLY;
	}
	switch (in.mode) {
	case 0:
	case FALLOC_FL_KEEP_SIZE:
		return FUSE_REPLY; /* every byte of the export is allocated */
	case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
		*io = (struct blk_req){ .op = BLK_TRIM, .len = (uint32_t)in.length, .off = in.offset };
		return FUSE_IO;
	case FALLOC_FL_ZERO_RANGE:
	case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
		*io = (struct blk_req){ .op = BLK_ZERO, .len = (uint32_t)in.length, .off = in.offset };
		return FUSE_IO;
	}
	*err = -EOPNOTSUPP;
	return FUSE_REPLY;
}

/* Long by design: one case per FUSE opcode, each a few lines that answer
 * it from the request alone, as a protocol dispatcher reads best. */
enum fuse_action fuse_handle(struct fuse_fs *fs, const struct fuse_view *v, uint8_t *out,
			     uint32_t out_cap, uint32_t *out_len, int *err, struct blk_req *io)
{
	uint64_t node = v->h->nodeid;

	*out_len = 0;
	*err = 0;
	switch (v->h->opcode) {
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		/* The kernel's reference counts of our two fixed inodes mean
		 * nothing here; an I/O request is never interrupted. */
		return FUSE_NOREPLY;
	case FUSE_INIT:
		return do_init(fs, v, out, out_len, err);
	}
	if (!fs->inited) {
		*err = -EIO;
		return FUSE_REPLY;
	}
	switch (v->h->opcode) {
	case FUSE_DESTROY:
		return FUSE_REPLY;
	case FUSE_LOOKUP: {
		struct fuse_entry_out e;

		if (node != VRAMD_FUSE_ROOT) {
			*err = -ENOTDIR;
			return FUSE_REPLY;
		}
		if (!name_is(v->data, v->data_len, VRAMD_FUSE_NAME)) {
			*err = -ENOENT;
			return FUSE_REPLY;
		}
		memset(&e, 0, sizeof e);
		e.nodeid = VRAMD_FUSE_FILE;
		e.generation = 1;
		e.entry_valid = e.attr_valid = VALID_S;
		fill_attr(fs, VRAMD_FUSE_FILE, &e.attr);
		*out_len = fs->minor < 9 ? FUSE_COMPAT_ENTRY_OUT_SIZE : sizeof e;
		memcpy(out, &e, *out_len);
		return FUSE_REPLY;
	}
	case FUSE_GETATTR:
	case FUSE_SETATTR:
		if (node != VRAMD_FUSE_ROOT && node != VRAMD_FUSE_FILE) {
			*err = -ENOENT;
			return FUSE_REPLY;
		}
		if (v->h->opcode == FUSE_SETATTR) {
			struct fuse_setattr_in in;

			if ((*err = args(v, &in, sizeof in)) < 0)
				return FUSE_REPLY;
			/* Times and modes are not kept; the size is the
			 * export's and cannot change. */
			if ((in.valid & FATTR_SIZE) && (node != VRAMD_FUSE_FILE || in.size != fs->size)) {
				*err = -EPERM;
				return FUSE_REPLY;
			}
			if (in.valid & (FATTR_UID | FATTR_GID | FATTR_MODE)) {
				*err = -EPERM;
				return FUSE_REPLY;
			}
		}
		*out_len = put_attr(fs, node, out);
		return FUSE_REPLY;
	case FUSE_OPEN: {
		struct fuse_open_in in;
		struct fuse_open_out o;

		if ((*err = args(v, &in, sizeof in)) < 0)
			return FUSE_REPLY;
		if (node != VRAMD_FUSE_FILE) {
			*err = node == VRAMD_FUSE_ROOT ? -EISDIR : -ENOENT;
			return FUSE_REPLY;
		}
		if (fs->read_only && (in.flags & O_ACCMODE) != O_RDONLY) {
			*err = -EROFS;
			return FUSE_REPLY;
		}
		if (in.flags & O_TRUNC) {
			*err = -EPERM;
			return FUSE_REPLY;
		}
		memset(&o, 0, sizeof o);
		/* No page cache for the file: the loop device's direct I/O
		 * reaches us as is, and nothing of the export is cached
		 * (and reclaimed) on its way to swap. */
		o.open_flags = FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES | FOPEN_NOFLUSH;
		memcpy(out, &o, sizeof o);
		*out_len = sizeof o;
		fs->opens++;
		return FUSE_REPLY;
	}
	case FUSE_RELEASE:
		if (node == VRAMD_FUSE_FILE && fs->opens > 0)
			fs->opens--;
		return FUSE_REPLY;
	case FUSE_OPENDIR: {
		struct fuse_open_out o;

		if (node != VRAMD_FUSE_ROOT) {
			*err = node == VRAMD_FUSE_FILE ? -ENOTDIR : -ENOENT;
			return FUSE_REPLY;
		}
		memset(&o, 0, sizeof o);
		memcpy(out, &o, sizeof o);
		*out_len = sizeof o;
		return FUSE_REPLY;
	}
	case FUSE_READDIR: {
		struct fuse_read_in in;

		if ((*err = args(v, &in, sizeof in)) < 0)
			return FUSE_REPLY;
		if (node != VRAMD_FUSE_ROOT) {
			*err = -ENOTDIR;
			return FUSE_REPLY;
		}
		*out_len = do_readdir(&in, out, out_cap);
		return FUSE_REPLY;
	}
	case FUSE_RELEASEDIR:
	case FUSE_FSYNCDIR:
	case FUSE_FLUSH:
	case FUSE_ACCESS:
		return FUSE_REPLY;
	case FUSE_STATFS: {
		struct fuse_statfs_out s;

		memset(&s, 0, sizeof s);
		s.st.bsize = s.st.frsize = 4096;
		s.st.blocks = fs->size / 4096;
		s.st.files = 2;
		s.st.namelen = 255;
		memcpy(out, &s, sizeof s);
		*out_len = sizeof s;
		return FUSE_REPLY;
	}
	case FUSE_READ:
	case FUSE_WRITE:
	case FUSE_FSYNC:
	case FUSE_FALLOCATE:
		return do_io(fs, v, out, out_cap, err, io);
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_LINK:
	case FUSE_SYMLINK:
	case FUSE_CREATE:
	case FUSE_SETXATTR:
	case FUSE_REMOVEXATTR:
		*err = -EPERM; /* one fixed file */
		return FUSE_REPLY;
	}
	*err = -ENOSYS;
	return FUSE_REPLY;
}

void fuse_io_done(const struct fuse_view *v, const struct blk_req *io, uint8_t *out,
		  uint32_t *out_len, int *err)
{
	*out_len = 0;
	*err = io->status ? -io->status : 0;
	if (io->status)
		return;
	if (v->h->opcode == FUSE_READ) {
		*out_len = io->len; /* already in out */
	} else if (v->h->opcode == FUSE_WRITE) {
		struct fuse_write_out w = { .size = io->len };

		memcpy(out, &w, sizeof w);
		*out_len = sizeof w;
	}
}
