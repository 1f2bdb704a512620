/* --fuse MOUNTPOINT: vramd mounts a FUSE filesystem of one file,
 * MOUNTPOINT/export, whose bytes are the export; a loop device with direct
 * I/O on that file is the swap device, with no NBD hop and no nbdfuse.
 * The protocol itself is fuse-session.c's; this file moves requests.
 *
 * Two ways of taking requests from the kernel:
 *  - FUSE over io_uring (kernel 6.14+, /sys/module/fuse/parameters/
 *    enable_uring = Y): the kernel keeps one queue per possible CPU and
 *    hands each request to an entry (a header buffer and a payload buffer)
 *    that a queue thread registered with IORING_OP_URING_CMD; the thread
 *    answers a whole batch of them and fetches the next in the same
 *    submission (COMMIT_AND_FETCH), so a request costs no system call of
 *    its own.  Queue thread i serves the CPUs i, i + N, ...
 *  - /dev/fuse reads (any kernel): N threads each read a request, answer
 *    it and write the reply.  One thread also stays on /dev/fuse in
 *    io_uring mode: FUSE_INIT, FORGET and INTERRUPT always come that way.
 * Buffers for every thread and entry are allocated at start-up in one
 * region, which the backend may pin (the vram backend copies between it
 * and VRAM by DMA); serving a request allocates nothing.
 *
 * Try:  mkdir /tmp/m && build/vramd --backend ram --size 1G --fuse /tmp/m --no-swap
 *       losetup --direct-io=on -f --show /tmp/m/export */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"
#include "fuse-session.h"
#include "log.h"
#include "parse.h"

/* Largest read or write the kernel sends (max_write, max_pages): the loop
 * device splits larger ones.  256 KiB keeps the buffers of 128 entries per
 * queue at 33 MiB; swap's own I/O is 4 KiB to a few hundred KiB. */
#define FUSE_MAX_IO (256u << 10)
#define SLOT_BYTES (FUSE_MAX_IO + 4096) /* a request: headers, then a write's data */
#define INIT_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 10000
#define URING_PARAM "/sys/module/fuse/parameters/enable_uring"
/* io_uring entries' buffers in all (256 KiB each), unless one per CPU
 * needs more; swap mode locks them and the vram backend pins them. */
#define FUSE_REGION_MAX (256ull << 20)

enum { UD_EVENT = 1 }; /* user_data of the wake-up read; entries are pointers */

struct ent {
	struct vramd_fuse_uring_hdr *hdr;
	uint8_t *payload;
	struct iovec iov[2];
	uint16_t qid;
	bool dead;           /* the kernel ended it (unmount, abort) */
};

/* A thread: a /dev/fuse reader, or an io_uring queue serving some CPUs. */
struct fq {
	unsigned idx;
	bool uring;
	bool started, has_queue;
	pthread_t thread;
	struct blk_queue q;
	/* reader */
	uint8_t *in, *out;
	/* io_uring queue */
	struct io_uring ring;
	bool ring_ok;
	int efd;
	uint64_t efd_val;
	struct ent *ents;
	unsigned nents, live;
	int reg_error;       /* first failed registration (negative errno) */
	unsigned registered;
};

static struct {
	int fd;
	char mnt[4096];
	bool mounted;
	struct fuse_fs fs;
	pthread_mutex_t lock;     /* fs, for everything but reads and writes */
	struct fq *fq;            /* readers first, then io_uring queues */
	unsigned nreaders, nuring, nq;
	struct worker_stats **stats;
	uint8_t *region;
	size_t region_len;
	unsigned ncpu;            /* possible CPUs: the kernel's queue count */
	volatile int stopping;
	volatile int gone;        /* the connection ended while serving */
	bool stuck;               /* a thread did not stop: its memory stays */
	uint64_t mnt_id;          /* the mount's id (statx), 0: unknown */
	unsigned poll_us;         /* --busy-poll of the io_uring queues */
	unsigned nconverted;      /* queue threads serving /dev/fuse reads */
} F = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static bool fuse_busy(void);

static int fuse_supported(char *why, size_t len)
{
	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		snprintf(why, len, "no usable /dev/fuse: %s (modprobe fuse; needs root)", strerror(errno));
		return 0;
	}
	return 1;
}

/* Y/N of the kernel's FUSE-over-io_uring switch; -1 when the kernel has
 * none (before 6.14, or CONFIG_FUSE_IO_URING off). */
static int uring_param(void)
{
	char c = 0;
	int fd = open(URING_PARAM, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'Y' || c == '1';
}

/* The kernel's queue count, num_possible_cpus(): the CPUs in
 * /sys/devices/system/cpu/possible ("0-7", "0,2-5").  *dense: they are
 * 0..n-1 (the kernel picks queue = CPU number; with holes in the mask a
 * CPU's number can pass the count, and io_uring is not used). */
static unsigned possible_cpus(bool *dense)
{
	char buf[256] = "";
	int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	unsigned count = 0, top = 0;
	char *p = buf, *end;

	if (fd >= 0)
		close(fd);
	*dense = false;
	if (n <= 0)
		return 1;
	buf[n] = 0;
	while (*p && *p != '\n') {
		unsigned long a = strtoul(p, &end, 10), b = a;

		if (end == p)
			return 1;
		p = end;
		if (*p == '-') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1 || b < a)
				return 1;
			p = end;
		}
		count += (unsigned)(b - a + 1);
		top = (unsigned)b + 1;
		if (*p == ',')
			p++;
	}
	*dense = count > 0 && count == top;
	return count ? count : 1;
}

static bool is_io(uint32_t opcode)
{
	return opcode == FUSE_READ || opcode == FUSE_WRITE;
}

/* fuse_handle under the lock where the request may change shared state
 * (opens, INIT); reads and writes touch none. */
static enum fuse_action handle(const struct fuse_view *v, uint8_t *out, uint32_t cap,
			       uint32_t *out_len, int *err, struct blk_req *io)
{
	enum fuse_action a;

	if (is_io(v->h->opcode))
		return fuse_handle(&F.fs, v, out, cap, out_len, err, io);
	pthread_mutex_lock(&F.lock);
	a = fuse_handle(&F.fs, v, out, cap, out_len, err, io);
	pthread_mutex_unlock(&F.lock);
	return a;
}

static void reply_dev(uint64_t unique, int err, const uint8_t *out, uint32_t len)
{
	struct fuse_out_header oh = { .len = (uint32_t)sizeof oh + (err ? 0 : len), .error = err,
				      .unique = unique };
	struct iovec iov[2] = { { &oh, sizeof oh }, { (void *)out, err ? 0 : len } };

	/* ENOENT: the request was interrupted and is gone; nothing to do. */
	if (writev(F.fd, iov, 2) < 0 && errno != ENOENT && !F.stopping)
		warn("fuse: reply to request %llu: %m", (unsigned long long)unique);
}

/* One request from /dev/fuse: answered, through the backend if it is
 * I/O.  Returns 0, or -1 when the connection is over. */
static int serve_read(struct fq *t)
{
	struct fuse_view v;
	struct blk_req io;
	uint32_t out_len;
	enum fuse_action a;
	ssize_t n;
	int err;

	n = read(F.fd, t->in, SLOT_BYTES);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
			return 0; /* a signal (stop), or an interrupted request */
		if (errno != ENODEV && !F.stopping)
			error("fuse: read from /dev/fuse: %m");
		return -1; /* ENODEV: unmounted */
	}
	if (fuse_view_classic(t->in, (size_t)n, &v) < 0) {
		error("fuse: a request of %zd bytes that its header contradicts: ignored", n);
		return 0;
	}
	a = handle(&v, t->out, FUSE_MAX_IO, &out_len, &err, &io);
	if (a == FUSE_NOREPLY)
		return 0;
	if (a == FUSE_IO) {
		if (!t->q.bw) {
			err = -EIO; /* io_uring mode: I/O never comes this way */
			out_len = 0;
		} else {
			blk_run(&t->q, &io, 1, now_ns());
			fuse_io_done(&v, &io, t->out, &out_len, &err);
		}
	}
	reply_dev(v.h->unique, err, t->out, out_len);
	if (a == FUSE_IO && t->q.bw)
		blk_after_reply(&t->q);
	return 0;
}

static void *reader_main(void *arg)
{
	struct fq *t = arg;

	while (!F.stopping)
		if (serve_read(t) < 0)
			break;
	if (!F.stopping)
		F.gone = 1;
	return NULL;
}

/* --- FUSE over io_uring ---------------------------------------------------- */

static void prep_cmd(struct fq *t, struct ent *e, uint32_t op, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = blk_sqe(&t->ring, "fuse queue");
	struct vramd_fuse_uring_cmd c = { .commit_id = commit_id, .qid = e->qid };

	if (!sqe)
		return;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = F.fd;
	sqe->cmd_op = op;
	sqe->addr = (uint64_t)(uintptr_t)e->iov;
	sqe->len = 2;
	memcpy(blk_sqe_cmd(sqe), &c, sizeof c);
	io_uring_sqe_set_data(sqe, e);
}

static void post_event_read(struct fq *t)
{
	blk_post_wake(&t->ring, t->efd, &t->efd_val, UD_EVENT, "fuse queue");
}

/* The reply to e's request goes into its header buffer; the commit also
 * fetches the next request for the entry. */
static void commit(struct fq *t, struct ent *e, uint64_t unique, int err, uint32_t len)
{
	struct fuse_out_header oh = { .len = (uint32_t)sizeof oh + (err ? 0 : len), .error = err,
				      .unique = unique };
	struct vramd_fuse_ent_in_out eio;

	memcpy(e->hdr->in_out, &oh, sizeof oh);
	memcpy(&eio, &e->hdr->ent, sizeof eio);
	eio.payload_sz = err ? 0 : len;
	memcpy(&e->hdr->ent, &eio, sizeof eio);
	prep_cmd(t, e, VRAMD_FUSE_CMD_COMMIT_AND_FETCH, unique);
}

struct pend {
	struct ent *e;
	struct fuse_view v;
	struct fuse_in_header h;
};

static void *uring_main(void *arg)
{
	struct fq *t = arg;
	struct blk_req *io = calloc(t->nents, sizeof *io);
	struct pend *pd = calloc(t->nents, sizeof *pd);
	struct io_uring_cqe *cqe;
	unsigned head, n, i, nio;

	if (!io || !pd) {
		error("fuse: queue %u: out of memory", t->idx);
		F.gone = 1;
		free(io);
		free(pd);
		return NULL;
	}
	post_event_read(t);
	io_uring_submit(&t->ring);
	while (!F.stopping && t->live) {
		int r = blk_submit_wait(&t->q, &t->ring, F.poll_us);
		uint64_t t0;

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			errno = -r;
			error("fuse: queue %u: io_uring_submit_and_wait: %m", t->idx);
			break;
		}
		t0 = now_ns();
		n = nio = 0;
		io_uring_for_each_cqe(&t->ring, head, cqe) {
			struct ent *e = io_uring_cqe_get_data(cqe);
			struct pend *p;
			uint32_t out_len;
			int err;

			n++;
			if ((uintptr_t)e == UD_EVENT) {
				if (!F.stopping)
					post_event_read(t);
				continue;
			}
			if (cqe->res < 0) {
				/* The connection went, or a commit was refused:
				 * this entry is no more. */
				if (!e->dead) {
					e->dead = true;
					t->live--;
				}
				if (cqe->res != -ENOTCONN && cqe->res != -ECONNABORTED && !F.stopping)
					warn("fuse: queue %u: entry of cpu %u ended: %s", t->idx, e->qid,
					     strerror(-cqe->res));
				continue;
			}
			p = &pd[nio];
			p->e = e;
			memcpy(&p->h, e->hdr->in_out, sizeof p->h);
			p->v.h = &p->h;
			p->v.arg = e->hdr->op_in;
			p->v.arg_len = VRAMD_FUSE_URING_HDR;
			p->v.data = e->payload;
			{
				struct vramd_fuse_ent_in_out eio;

				memcpy(&eio, &e->hdr->ent, sizeof eio);
				p->v.data_len = eio.payload_sz < FUSE_MAX_IO ? eio.payload_sz : FUSE_MAX_IO;
			}
			switch (handle(&p->v, e->payload, FUSE_MAX_IO, &out_len, &err, &io[nio])) {
			case FUSE_IO:
				nio++;
				break;
			case FUSE_NOREPLY: /* not sent this way; the entry goes on */
				err = -ENOSYS;
				out_len = 0;
				/* fall through */
			case FUSE_REPLY:
				commit(t, e, p->h.unique, err, out_len);
				break;
			}
		}
		io_uring_cq_advance(&t->ring, n);
		if (nio) {
			blk_run(&t->q, io, nio, t0);
			for (i = 0; i < nio; i++) {
				uint32_t out_len;
				int err;

				fuse_io_done(&pd[i].v, &io[i], pd[i].e->payload, &out_len, &err);
				commit(t, pd[i].e, pd[i].h.unique, err, out_len);
			}
			io_uring_submit(&t->ring);
			blk_after_reply(&t->q);
		}
	}
	if (!F.stopping)
		F.gone = 1;
	free(io);
	free(pd);
	return NULL;
}

/* Registers every entry of t; run in the thread that will serve them
 * (FUSE answers an entry in the task that registered it).  Returns 0 or
 * the negative errno of the first refusal. */
static int uring_register(struct fq *t)
{
	struct io_uring_cqe *cqe;
	unsigned i, head;
	int r;

	for (i = 0; i < t->nents; i++)
		prep_cmd(t, &t->ents[i], VRAMD_FUSE_CMD_REGISTER, 0);
	r = io_uring_submit(&t->ring);
	if (r < 0)
		return r;
	/* A registration that fails completes at once; one that works stays
	 * pending until a request comes.  Failures are looked for, but a
	 * completion with a request (res >= 0: the ring may be ready already,
	 * other queues having registered) stays for uring_main. */
	io_uring_for_each_cqe(&t->ring, head, cqe)
		if (cqe->res < 0)
			return cqe->res;
	return 0;
}

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cond = PTHREAD_COND_INITIALIZER;

static void *uring_thread(void *arg)
{
	struct fq *t = arg;
	int r = uring_register(t);

	pthread_mutex_lock(&reg_lock);
	t->reg_error = r;
	t->registered = 1;
	pthread_cond_broadcast(&reg_cond);
	pthread_mutex_unlock(&reg_lock);
	if (r < 0)
		return NULL;
	return uring_main(t);
}

/* --- start and stop -------------------------------------------------------- */

/* io_uring was laid out but is not to be (a ring could not be set up, or
 * the kernel did not offer it at FUSE_INIT): each queue thread serves
 * /dev/fuse reads instead, with its own backend context and its two
 * slots carved from its entries' buffers (contiguous, and registered with
 * the backend), so that the fallback keeps the threads io_uring had. */
static void queues_to_readers(void)
{
	unsigned i;

	for (i = F.nreaders; i < F.nq; i++) {
		struct fq *t = &F.fq[i];

		if ((size_t)t->nents * FUSE_MAX_IO < 2 * (size_t)SLOT_BYTES)
			continue; /* too few buffers: this one stays idle */
		t->uring = false;
		t->in = t->ents[0].payload;
		t->out = t->in + SLOT_BYTES;
		F.nconverted++;
	}
}

static void on_wake_signal(int signo)
{
	(void)signo; /* interrupts a reader's read(); the loop looks at stopping */
}

/* Answers FUSE_INIT, which the kernel sends as the mount completes.
 * Returns 0, or -1 after logging. */
static int answer_init(struct fq *t)
{
	uint64_t deadline = now_ns() + INIT_TIMEOUT_MS * 1000000ull;
	struct pollfd pf = { .fd = F.fd, .events = POLLIN };

	while (!F.fs.inited) {
		uint64_t now = now_ns();
		int r;

		if (now >= deadline) {
			error("fuse: no FUSE_INIT from the kernel within %d ms", INIT_TIMEOUT_MS);
			return -1;
		}
		r = poll(&pf, 1, (int)((deadline - now) / 1000000) + 1);
		if (r < 0 && errno != EINTR) {
			error("fuse: poll /dev/fuse: %m");
			return -1;
		}
		if (r > 0 && serve_read(t) < 0) {
			error("fuse: the connection ended before FUSE_INIT");
			return -1;
		}
	}
	return 0;
}

static int open_mount_point(const char *target, bool quiet);

/* Unmounts our mount, found again by a safe walk of its path and known by
 * its mount id: if the path leads elsewhere now, nothing is unmounted
 * (the connection still ends when /dev/fuse is closed). */
static void unmount(void)
{
	struct statx stx;
	char self[64];
	int fd;

	if (!F.mounted)
		return;
	F.mounted = false;
	fd = open_mount_point(F.mnt, true);
	if (fd < 0 || statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ||
	    !(stx.stx_mask & STATX_MNT_ID) || stx.stx_mnt_id != F.mnt_id) {
		if (fd >= 0)
			close(fd);
		/* Unmounted from outside, or the path moved. */
		debug("fuse: '%s' is not this server's mount any more: not unmounting it", F.mnt);
		return;
	}
	if (fuse_busy())
		warn("fuse: '%s' is still open (a loop device?): unmounting it; its users' I/O will fail",
		     F.mnt);
	/* Detached: our own descriptor of it would make a plain unmount
	 * busy.  Nothing holds it once that descriptor is closed. */
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	if (umount2(self, MNT_DETACH) < 0)
		warn("fuse: cannot unmount '%s': %m", F.mnt);
	close(fd);
}

/* Returns 0, or -1 when a thread did not stop (its ring, entries,
 * backend context and the buffer region are then left as they are). */
static int fuse_stop(void)
{
	uint64_t deadline = now_ns() + STOP_TIMEOUT_MS * 1000000ull;
	unsigned i;

	F.stopping = 1;
	unmount();
	for (i = 0; i < F.nq; i++) {
		struct fq *t = &F.fq[i];
		uint64_t one = 1;

		if (t->started && t->uring && write(t->efd, &one, sizeof one) < 0)
			warn("fuse: cannot wake queue %u: %m", i);
	}
	/* Readers block in read(): a signal without SA_RESTART ends it, sent
	 * again until each has seen stopping (or the deadline passed). */
	for (i = 0; i < F.nq; i++) {
		struct fq *t = &F.fq[i];

		while (t->started) {
			struct timespec ts;

			if (!t->uring)
				pthread_kill(t->thread, SIGURG);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(t->thread, NULL, &ts) == 0) {
				t->started = false;
			} else if (now_ns() >= deadline) {
				error("fuse: thread %u did not stop within %d ms: leaving it, and "
				      "its memory", i, STOP_TIMEOUT_MS);
				F.stuck = true;
				break;
			}
		}
	}
	for (i = 0; i < F.nq; i++) {
		struct fq *t = &F.fq[i];

		if (t->started)
			continue; /* stuck: it may still use all of it */
		if (t->ring_ok)
			io_uring_queue_exit(&t->ring);
		t->ring_ok = false;
		if (t->efd >= 0)
			close(t->efd);
		t->efd = -1;
		if (t->has_queue)
			blk_queue_close(&t->q);
		t->has_queue = false;
		free(t->ents);
		t->ents = NULL;
	}
	if (F.stuck)
		return -1;
	if (F.fd >= 0)
		close(F.fd);
	F.fd = -1;
	if (F.region)
		munmap(F.region, F.region_len);
	F.region = NULL;
	/* F.fq and F.stats stay: the statistics are read after stop(). */
	return 0;
}

/* Opens the mount point (or, at stop, the mount on it), refusing a path
 * that someone other than root could redirect: every directory on the
 * way must be root's (or the caller's) and writable by no one else unless
 * sticky (like /tmp, where others cannot rename what is not theirs), and
 * no component may be a symbolic link or "..".  Returns a descriptor of
 * the directory, or -1 (logged unless quiet). */
static int open_mount_point(const char *target, bool quiet)
{
	char *copy = NULL, *save = NULL, *name, why[512] = "";
	int dir = -1, next;
	struct stat st;

	if (target[0] != '/') {
		snprintf(why, sizeof why, "want an absolute path");
		goto fail;
	}
	copy = strdup(target);
	dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!copy || dir < 0)
		goto fail;
	for (name = strtok_r(copy, "/", &save);; name = strtok_r(NULL, "/", &save)) {
		if (fstat(dir, &st) < 0)
			goto fail;
		if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX) && name)) {
			snprintf(why, sizeof why, "a directory on the way belongs to uid %u or others "
				 "may write it (mode %04o): refused, someone could redirect the path",
				 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
			goto fail;
		}
		if (!name)
			break;
		if (!strcmp(name, "..")) {
			snprintf(why, sizeof why, "no '..' allowed");
			goto fail;
		}
		next = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			snprintf(why, sizeof why, "'%s': %s (want an existing directory, no symbolic "
				 "link on the way)", name, strerror(errno));
			goto fail;
		}
		close(dir);
		dir = next;
	}
	free(copy);
	return dir;
fail:
	if (!quiet)
		error("fuse: mount point '%s': %s", target, why[0] ? why : strerror(errno));
	free(copy);
	if (dir >= 0)
		close(dir);
	return -1;
}

static int do_mount(const char *target)
{
	static const struct {
		const char *key, *value; /* value NULL: a flag */
	} fixed[] = { { "source", "vramd" }, { "subtype", "vramd" }, { "rootmode", "40000" },
		      { "default_permissions", NULL } };
	struct statx stx;
	char num[32];
	unsigned i;
	int dir, fsfd = -1, mfd = -1;

	dir = open_mount_point(target, false);
	if (dir < 0)
		return -1;
	F.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (F.fd < 0) {
		error("fuse: open /dev/fuse: %m");
		goto fail;
	}
	/* The mount API in steps (fsopen ... move_mount) leaves a descriptor
	 * of the mount itself, which the unmount goes through.  Only the
	 * mounting user (root) may use the file: no allow_other. */
	fsfd = fsopen("fuse", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		error("fuse: fsopen(\"fuse\"): %m (needs Linux 5.2 or later)");
		goto fail;
	}
	for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (fsconfig(fsfd, fixed[i].value ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG,
			     fixed[i].key, fixed[i].value, 0) < 0) {
			error("fuse: mount option '%s': %m", fixed[i].key);
			goto fail;
		}
#define SETNUM(key, v)                                                                      \
	(snprintf(num, sizeof num, "%u", (unsigned)(v)),                                    \
	 fsconfig(fsfd, FSCONFIG_SET_STRING, key, num, 0))
	if (SETNUM("fd", F.fd) < 0 || SETNUM("user_id", geteuid()) < 0 ||
	    SETNUM("group_id", getegid()) < 0 || SETNUM("max_read", FUSE_MAX_IO) < 0) {
		error("fuse: mount options: %m");
		goto fail;
	}
#undef SETNUM
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		error("fuse: creating the filesystem: %m");
		goto fail;
	}
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mfd < 0) {
		error("fuse: fsmount: %m");
		goto fail;
	}
	if (move_mount(mfd, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		error("fuse: mount on '%s': %m", target);
		goto fail;
	}
	F.mounted = true;
	/* Its id tells the mount apart at stop (the descriptor itself is
	 * not kept: it would make an unmount from outside fail as busy). */
	if (statx(mfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID))
		F.mnt_id = stx.stx_mnt_id;
	close(mfd);
	close(fsfd);
	close(dir);
	return 0;
fail:
	if (mfd >= 0)
		close(mfd);
	if (fsfd >= 0)
		close(fsfd);
	close(dir);
	return -1;
}

/* Long by design: starting the FUSE front end is one sequence (io_uring
 * queues or /dev/fuse readers chosen and sized, their buffers and rings
 * made, the mount, the threads) whose every failure leaves by the one
 * label at the end that undoes what was made; split, that unwinding would
 * be spread over the pieces. */
static int fuse_start(const struct export *ex, const struct frontend_config *cfg, char *path,
		      size_t len)
{
	struct sigaction sa = { .sa_handler = on_wake_signal }; /* no SA_RESTART */
	unsigned i, per_cpu = 0, queues = cfg->queues ? cfg->queues : 1;
	int param = uring_param();
	bool dense;
	size_t off;
	char sz[32];

	if (strlen(cfg->target) + sizeof "/" VRAMD_FUSE_NAME > sizeof F.mnt ||
	    strlen(cfg->target) + sizeof "/" VRAMD_FUSE_NAME > len) {
		error("fuse: mount point '%s' is too long", cfg->target);
		return -1;
	}
	if (cfg->uring == 1 && param != 1) {
		error("fuse: --fuse-uring on, but the kernel %s", param < 0 ?
		      "has no FUSE over io_uring (" URING_PARAM " absent: before 6.14 or "
		      "CONFIG_FUSE_IO_URING off)" :
		      "has FUSE over io_uring switched off (write Y to " URING_PARAM " as root)");
		return -1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGURG, &sa, NULL);
	snprintf(F.mnt, sizeof F.mnt, "%s", cfg->target);
	F.poll_us = cfg->poll_us;
	F.nconverted = 0;
	F.ncpu = possible_cpus(&dense);
	F.fs = (struct fuse_fs){ .size = ex->size, .read_only = ex->read_only,
				 .want_uring = cfg->uring != 0 && param == 1, .max_io = FUSE_MAX_IO,
				 .page_size = (uint32_t)sysconf(_SC_PAGESIZE),
				 .time_s = (uint64_t)time(NULL) };
	if (F.fs.want_uring && !dense) {
		if (cfg->uring == 1) {
			error("fuse: --fuse-uring on: the possible CPUs are not numbered 0..n-1, "
			      "which FUSE over io_uring's per-CPU queues need");
			return -1;
		}
		info("fuse: possible CPUs not numbered 0..n-1: using /dev/fuse reads");
		F.fs.want_uring = false;
	}
	/* io_uring: `queues` threads (at most one per CPU) share the kernel's
	 * per-CPU queues, with `depth` entries per thread in all, at least
	 * one per CPU, and the buffers within FUSE_REGION_MAX where one per
	 * CPU allows; one reader stays on /dev/fuse.  Otherwise `queues`
	 * readers, each with one request at a time (depth unused). */
	if (F.fs.want_uring) {
		size_t per_ent = FUSE_MAX_IO + sizeof(struct vramd_fuse_uring_hdr);

		F.nuring = queues < F.ncpu ? queues : F.ncpu;
		per_cpu = F.nuring * cfg->depth / F.ncpu;
		if ((size_t)per_cpu * F.ncpu * per_ent > FUSE_REGION_MAX)
			per_cpu = (unsigned)(FUSE_REGION_MAX / per_ent / F.ncpu);
		if (per_cpu < 1)
			per_cpu = 1;
		F.nreaders = 1;
	} else {
		F.nreaders = queues;
		F.nuring = 0;
	}
	{
		unsigned bg = F.fs.want_uring ? per_cpu * F.ncpu : queues * 2;

		F.fs.max_background = (uint16_t)(bg < 16 ? 16 : bg > 65535 ? 65535 : bg);
	}
	F.fq = calloc(F.nreaders + F.nuring, sizeof *F.fq);
	F.stats = calloc(F.nreaders + F.nuring, sizeof *F.stats);
	if (!F.fq || !F.stats) {
		error("fuse: out of memory");
		free(F.fq);
		free(F.stats);
		F.fq = NULL;
		F.stats = NULL;
		return -1;
	}
	F.nq = F.nreaders + F.nuring;
	for (i = 0; i < F.nq; i++) {
		F.fq[i].efd = -1;
		F.fq[i].idx = i;
		F.fq[i].uring = i >= F.nreaders;
	}

	/* One region: readers' request and reply buffers, then each CPU
	 * queue's entries (payload, then the headers of all). */
	F.region_len = (size_t)F.nreaders * 2 * SLOT_BYTES +
		       (size_t)F.ncpu * per_cpu * (FUSE_MAX_IO + sizeof(struct vramd_fuse_uring_hdr));
	F.region_len = (F.region_len + 4095) & ~(size_t)4095;
	F.region = mmap(NULL, F.region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (F.region == MAP_FAILED) {
		F.region = NULL;
		error("fuse: cannot map %s of buffers: %m", format_size(F.region_len, sz, sizeof sz));
		goto fail;
	}
	if (ex->ops->register_buffers && ex->ops->register_buffers(ex->backend, F.region, F.region_len) < 0)
		goto fail;
	off = 0;
	for (i = 0; i < F.nreaders; i++) {
		F.fq[i].in = F.region + off;
		F.fq[i].out = F.region + off + SLOT_BYTES;
		off += 2 * SLOT_BYTES;
	}
	{
		uint8_t *hdrs = F.region + off + (size_t)F.ncpu * per_cpu * FUSE_MAX_IO;
		unsigned cpu, k, e = 0;

		for (i = F.nreaders; i < F.nq; i++) {
			struct fq *t = &F.fq[i];
			unsigned mine = 0;

			for (cpu = i - F.nreaders; cpu < F.ncpu; cpu += F.nuring)
				mine += per_cpu;
			t->ents = calloc(mine, sizeof *t->ents);
			if (!t->ents) {
				error("fuse: out of memory");
				goto fail;
			}
			t->nents = t->live = mine;
			mine = 0;
			for (cpu = i - F.nreaders; cpu < F.ncpu; cpu += F.nuring)
				for (k = 0; k < per_cpu; k++, e++) {
					struct ent *x = &t->ents[mine++];

					x->qid = (uint16_t)cpu;
					x->payload = F.region + off + (size_t)e * FUSE_MAX_IO;
					x->hdr = (struct vramd_fuse_uring_hdr *)(hdrs +
						 (size_t)e * sizeof(struct vramd_fuse_uring_hdr));
					x->iov[0] = (struct iovec){ x->hdr, sizeof *x->hdr };
					x->iov[1] = (struct iovec){ x->payload, FUSE_MAX_IO };
				}
		}
	}

	/* Backend contexts: one per thread.  In io_uring mode the reader is
	 * context nuring (vramd opens queues + 1 for --fuse), though the
	 * kernel then holds every request until the ring is ready and sends
	 * none of them to /dev/fuse: it is there for a kernel that refused
	 * io_uring at FUSE_INIT. */
	for (i = 0; i < F.nq; i++) {
		struct fq *t = &F.fq[i];
		unsigned ctx = t->uring ? i - F.nreaders : F.fs.want_uring ? F.nuring : i;

		if (blk_queue_open(&t->q, ex, ctx) < 0)
			goto fail;
		t->has_queue = true;
		F.stats[i] = &t->q.st;
	}

	/* The rings exist before io_uring is offered at FUSE_INIT: after
	 * that, the kernel holds every request until they serve, so a
	 * failure here must come first (auto then offers it not at all). */
	for (i = F.nreaders; i < F.nq && F.fs.want_uring; i++) {
		struct fq *t = &F.fq[i];
		int r;

		/* Every entry's command stays in the ring, plus the wake-up. */
		r = io_uring_queue_init(t->nents + 8, &t->ring, IORING_SETUP_SQE128);
		if (r >= 0) {
			t->ring_ok = true;
			t->efd = eventfd(0, EFD_CLOEXEC);
			r = t->efd < 0 ? -errno : 0;
		}
		if (r < 0) {
			errno = -r;
			if (cfg->uring == 1) {
				error("fuse: cannot set up io_uring queue %u: %m", i - F.nreaders);
				goto fail;
			}
			warn("fuse: cannot set up io_uring queue %u (%m): serving through /dev/fuse "
			     "reads instead", i - F.nreaders);
			F.fs.want_uring = false;
		}
	}
	if (do_mount(cfg->target) < 0)
		goto fail;
	if (answer_init(&F.fq[0]) < 0)
		goto fail;
	if (F.fs.want_uring && !F.fs.uring) {
		if (cfg->uring == 1) {
			error("fuse: the kernel did not offer FUSE over io_uring at FUSE_INIT");
			goto fail;
		}
		warn("fuse: the kernel did not offer io_uring at FUSE_INIT: serving through /dev/fuse "
		     "reads instead");
	}
	if (!F.fs.uring && F.nuring)
		queues_to_readers();
	for (i = 0; i < F.nq; i++) {
		struct fq *t = &F.fq[i];
		int r;

		if (t->uring && !F.fs.uring)
			continue;
		r = pthread_create(&t->thread, NULL, t->uring ? uring_thread : reader_main, t);
		if (r) {
			errno = r;
			error("fuse: cannot start a thread: %m");
			goto fail;
		}
		t->started = true;
	}
	if (F.fs.uring) {
		/* Every queue registered (or refused) before the device is
		 * announced: requests wait until all CPUs have entries. */
		uint64_t deadline = now_ns() + INIT_TIMEOUT_MS * 1000000ull;

		pthread_mutex_lock(&reg_lock);
		for (i = F.nreaders; i < F.nq; i++) {
			while (!F.fq[i].registered && now_ns() < deadline) {
				struct timespec ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += 1;
				pthread_cond_timedwait(&reg_cond, &reg_lock, &ts);
			}
			if (!F.fq[i].registered || F.fq[i].reg_error) {
				int e = F.fq[i].registered ? -F.fq[i].reg_error : ETIMEDOUT;

				pthread_mutex_unlock(&reg_lock);
				/* The kernel has gone back to /dev/fuse, but with one
				 * reader; start again with --fuse-uring off. */
				error("fuse: registering io_uring queue %u: %s (try --fuse-uring off)",
				      i - F.nreaders, strerror(e));
				goto fail;
			}
		}
		pthread_mutex_unlock(&reg_lock);
	}
	snprintf(path, len, "%s/%s", F.mnt, VRAMD_FUSE_NAME);
	info("fuse: serving '%s' (%s, %u %s)", path, F.fs.uring ? "io_uring" : "/dev/fuse reads",
	     F.fs.uring ? F.nuring : F.nreaders + F.nconverted,
	     F.fs.uring ? "queue threads" : "reader threads");
	return 0;
fail:
	fuse_stop();
	return -1;
}

static bool fuse_busy(void)
{
	bool busy;

	pthread_mutex_lock(&F.lock);
	busy = F.fs.opens > 0;
	pthread_mutex_unlock(&F.lock);
	return busy;
}

static bool fuse_gone(void)
{
	return F.gone && !F.stopping;
}

static void fuse_wake(unsigned idx)
{
	/* Nothing is ever held: every batch ends with blk_after_reply. */
	(void)idx;
}

static struct worker_stats *const *fuse_stats(unsigned *n)
{
	*n = F.nq;
	return F.stats;
}

static void fuse_describe(json_t *doc)
{
	int param = uring_param();

	json_object_set_new(doc, "frontend", json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:I,s:I}",
		"name", "fuse",
		"mount_point", F.mnt,
		"transport", F.fs.uring ? "io_uring" : "dev_fuse",
		"kernel_uring", param < 0 ? "absent" : param ? "on" : "off",
		"reader_threads", (int)(F.nreaders + F.nconverted),
		"queue_threads", F.fs.uring ? (int)F.nuring : 0,
		"kernel_queues", F.fs.uring ? (int)F.ncpu : 0,
		"max_io_bytes", (int)FUSE_MAX_IO,
		"open_handles", (json_int_t)F.fs.opens,
		"buffer_bytes", (json_int_t)F.region_len));
}

const struct frontend_ops frontend_fuse = {
	.name = "fuse",
	.summary = "a one-file FUSE filesystem (for a loop device), over io_uring where offered",
	.supported = fuse_supported,
	.start = fuse_start,
	.busy = fuse_busy,
	.gone = fuse_gone,
	.stop = fuse_stop,
	.wake = fuse_wake,
	.stats = fuse_stats,
	.describe = fuse_describe,
};
