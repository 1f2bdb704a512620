/* vramd: an NBD server whose storage is GPU memory (backend vram), host
 * memory (ram) or nothing (null), built to be a swap device.
 * Try:  build/vramd --backend ram --size 1G --socket /tmp/v.sock -f
 *       nbdinfo 'nbd+unix:///?socket=/tmp/v.sock'
 * The main thread accepts connections and handles signals and statistics;
 * each connection negotiates in a short-lived thread and is then served by
 * an io_uring worker (worker.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "file.h"
#include "frontend.h"
#include "handshake.h"
#include "log.h"
#include "provenance.h"
#include "nbd-proto.h"
#include "parse.h"
#include "session.h"
#include "stats.h"
#include "worker.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

#define HANDSHAKE_TIMEOUT_S 30 /* for the whole handshake */
/* Connections still negotiating, each in a thread of its own, at most
 * this many (or --max-connections, if more).  They take no connection
 * slot (buffers): a client that connects and vanishes, however often,
 * leaves the --max-connections slots to clients that negotiate. */
#define HANDSHAKES_MAX 64
/* Out of descriptors, accepting stops this long before it is tried again. */
#define ACCEPT_PAUSE_MS 100
static unsigned handshakes;
static uint64_t refused; /* connections refused at accept (stats) */

static struct opts {
	const char *backend, *socket, *tcp, *pidfile, *stats_file, *log_file;
	const char *name, *description;
	const char *fuse;     /* --fuse MOUNTPOINT */
	bool ublk;
	int64_t ublk_id, ublk_del; /* -1: none */
	int fuse_uring;       /* -1 auto, 0 off, 1 on */
	uint64_t size, threads, max_conns, stats_ms, gpu, staging, busy_poll_us, resident_idle_ms;
	uint64_t depth;
	enum vram_cuda_sync cuda_sync;
	bool resident;
	mode_t socket_mode;
	bool read_only, foreground, force_exit, allow_remote, allow_local, dump, force_del;
	int swap; /* -1: default (on, best effort), 0 off, 1 required */
} o = {
	.name = "vramd", .max_conns = 16, .staging = 8 << 20, .stats_ms = 1000, .socket_mode = 0600, .swap = -1,
	.resident = true, .resident_idle_ms = 1000,
	.ublk_id = -1, .ublk_del = -1, .fuse_uring = -1, .depth = 128,
};

/* The block front end in use (--ublk, --fuse), or NULL: NBD on a socket. */
static const struct frontend_ops *fe;

static struct export ex;
static uint64_t start_ns;
static int listen_fd = -1;
static bool swap_mode;

static int parse_tcp(const char *spec, struct sockaddr_in *sa, char *why, size_t len);
static struct sockaddr_in tcp_addr;

/* The --help text (tests/test-man.sh checks it against man/vramd.8). */
static void usage(FILE *f)
{
	fprintf(f,
"usage: vramd --backend NAME --size SIZE (--socket PATH | --tcp HOST:PORT |\n"
"             --ublk | --fuse MOUNTPOINT) [options]\n"
"       vramd --ublk-del N\n"
"\n"
"An NBD server whose export lives in GPU memory (vram), host memory (ram)\n"
"or nowhere (null), meant to back a swap device.  It can also be the block\n"
"device itself: a ublk device (/dev/ublkbN) or a file on its own FUSE\n"
"filesystem (for a loop device), with no NBD client in between.\n"
"\n"
"Export:\n"
"  -b, --backend NAME       vram, ram or null (see --dump-backend)\n"
"  -s, --size SIZE          export size, e.g. 8G, 512M (binary units)\n"
"      --gpu N              GPU index for the vram backend (default 0)\n"
"      --cuda-sync MODE     vram: how workers wait for the GPU: auto (default),\n"
"                           spin, yield or blocking\n"
"      --staging SIZE       vram: pinned write-back staging per worker thread\n"
"                           (default 8M; 2M to 1G, or 0: every write completes\n"
"                           in VRAM before its reply)\n"
"      --resident-kernel on|off  vram: lone small reads answered by a GPU\n"
"                           kernel that polls for them, with no driver call\n"
"                           (default on; off on a GPU shared with others)\n"
"      --resident-idle MS   vram: the resident kernel ends after MS without a\n"
"                           lone read (the GPU idles) and the next launches it\n"
"                           again (default 1000; 0: it polls until vramd exits)\n"
"  -r, --read-only          refuse writes (EPERM)\n"
"  -n, --export-name NAME   export name (default \"vramd\"; \"\" also selects it)\n"
"      --description TEXT   export description shown by nbdinfo --list\n"
"Listening:\n"
"  -u, --socket PATH        Unix socket (created with --socket-mode, default 0600:\n"
"                           only root may connect; the way to serve swap)\n"
"      --socket-mode OCTAL  permissions of the Unix socket\n"
"  -t, --tcp HOST:PORT      TCP socket, which EVERY local user can reach (NBD has\n"
"                           no authentication here): they could read and write\n"
"                           the export, other processes' swapped-out pages; so it\n"
"                           needs --allow-any-local-user, and is only loopback\n"
"                           unless --allow-remote\n"
"      --allow-any-local-user  accept that exposure of --tcp (benchmarks, tests)\n"
"      --allow-remote       permit a non-loopback --tcp address\n"
"  -j, --threads N          I/O worker threads (default: online CPUs, at most\n"
"                           --max-connections)\n"
"      --busy-poll USECS    a worker with clients (a --ublk or --fuse io_uring\n"
"                           queue thread; not /dev/fuse readers) polls that\n"
"                           long for the next request before it sleeps\n"
"                           (default 0: sleeps at once;\n"
"                           30 took 1-5 us off a lone request on an H100 host,\n"
"                           and keeps a core busy per worker while its clients\n"
"                           are active)\n"
"      --max-connections N  connections served at once (default 16; buffers: 2.1\n"
"                           MiB each, 5.1 MiB pinned with --backend vram); ones\n"
"                           still negotiating do not count (at most 64 of them,\n"
"                           or N if more)\n"
"Block device (instead of an NBD socket; the path users open is printed on\n"
"stdout once it serves I/O):\n"
"      --ublk               create /dev/ublkbN (needs ublk_drv: /dev/ublk-control)\n"
"      --ublk-id N          ask for device number N (default: the kernel's choice)\n"
"      --ublk-del N         delete ublk device N left by a vramd that was killed,\n"
"                           and exit; a device whose server still runs is\n"
"                           refused unless --force is added\n"
"      --fuse MOUNTPOINT    mount a FUSE filesystem on MOUNTPOINT whose one file,\n"
"                           MOUNTPOINT/export, is the export; put a loop device\n"
"                           with direct I/O on it.  MOUNTPOINT: an absolute path\n"
"                           to a directory (what it holds is hidden meanwhile),\n"
"                           every directory on the way root's and writable by no\n"
"                           one else unless sticky, no symbolic link on the way\n"
"      --fuse-uring MODE    auto (default): FUSE over io_uring where the kernel\n"
"                           offers it (/sys/module/fuse/parameters/enable_uring\n"
"                           is Y), else /dev/fuse reads; on: io_uring or fail;\n"
"                           off: /dev/fuse reads\n"
"      --queue-depth N      requests in flight per queue (default 128; 1 to 4096);\n"
"                           -j sets the number of queues (with --fuse: io_uring\n"
"                           queue threads, at most one per CPU; /dev/fuse reads\n"
"                           take one request per thread, depth unused)\n"
"Process:\n"
"  -f, --foreground         do not daemonize (default: fork, return once listening)\n"
"  -p, --pidfile PATH       write the server's pid\n"
"      --log FILE           append messages to FILE instead of stderr\n"
"      --swap               swap mode, required: mlockall (fail without it), and\n"
"                           oom_score_adj -1000 and PR_SET_IO_FLUSHER (warn\n"
"                           without them: they need CAP_SYS_RESOURCE)\n"
"      --no-swap            no swap mode (tests, benchmarks)\n"
"                           (default: swap mode where permitted, warning otherwise)\n"
"      --force-exit         exit on SIGTERM/SIGINT even with clients connected\n"
"      --stats-file PATH    write statistics JSON there every --stats-interval-ms,\n"
"                           on SIGUSR1 and at exit (default: SIGUSR1 prints to stderr)\n"
"      --stats-interval-ms N  default 1000; 0 writes only on SIGUSR1 and exit\n"
"Information:\n"
"      --dump-backend       print key=value capability lines and exit\n"
"  -v, --verbose            debug messages\n"
"  -h, --help               this text\n"
"  -V, --version            print the version\n"
"\n"
"Signals: SIGUSR1 dumps statistics.  SIGTERM/SIGINT stop the server; in swap mode\n"
"with clients connected vramd refuses (their swapped-out pages live in this\n"
"process), logs it and exits once the last client disconnects.  Run swapoff and\n"
"disconnect the client first, or use --force-exit.  With --ublk or --fuse the\n"
"client is whoever holds the device (swapon, a loop device): vramd removes the\n"
"device or unmounts when it exits.\n");
}

enum { O_CUDA_SYNC = 255, O_GPU = 256, O_STAGING, O_RESIDENT, O_DESC, O_MODE, O_REMOTE, O_MAXC, O_LOG, O_SWAP, O_NOSWAP, O_FORCE,
       O_STATS, O_STATS_MS, O_DUMP, O_POLL, O_RESIDENT_IDLE, O_UBLK, O_UBLK_ID, O_UBLK_DEL, O_LOCAL, O_FORCE_DEL,
       O_FUSE, O_FUSE_URING, O_DEPTH };

static const struct option longopts[] = {
	{ "backend", required_argument, NULL, 'b' },
	{ "size", required_argument, NULL, 's' },
	{ "gpu", required_argument, NULL, O_GPU },
	{ "cuda-sync", required_argument, NULL, O_CUDA_SYNC },
	{ "staging", required_argument, NULL, O_STAGING },
	{ "resident-kernel", required_argument, NULL, O_RESIDENT },
	{ "resident-idle", required_argument, NULL, O_RESIDENT_IDLE },
	{ "busy-poll", required_argument, NULL, O_POLL },
	{ "read-only", no_argument, NULL, 'r' },
	{ "export-name", required_argument, NULL, 'n' },
	{ "description", required_argument, NULL, O_DESC },
	{ "socket", required_argument, NULL, 'u' },
	{ "socket-mode", required_argument, NULL, O_MODE },
	{ "tcp", required_argument, NULL, 't' },
	{ "allow-remote", no_argument, NULL, O_REMOTE },
	{ "allow-any-local-user", no_argument, NULL, O_LOCAL },
	{ "threads", required_argument, NULL, 'j' },
	{ "max-connections", required_argument, NULL, O_MAXC },
	{ "foreground", no_argument, NULL, 'f' },
	{ "pidfile", required_argument, NULL, 'p' },
	{ "log", required_argument, NULL, O_LOG },
	{ "swap", no_argument, NULL, O_SWAP },
	{ "no-swap", no_argument, NULL, O_NOSWAP },
	{ "force-exit", no_argument, NULL, O_FORCE },
	{ "stats-file", required_argument, NULL, O_STATS },
	{ "stats-interval-ms", required_argument, NULL, O_STATS_MS },
	{ "dump-backend", no_argument, NULL, O_DUMP },
	{ "ublk", no_argument, NULL, O_UBLK },
	{ "ublk-id", required_argument, NULL, O_UBLK_ID },
	{ "ublk-del", required_argument, NULL, O_UBLK_DEL },
	{ "force", no_argument, NULL, O_FORCE_DEL },
	{ "fuse", required_argument, NULL, O_FUSE },
	{ "fuse-uring", required_argument, NULL, O_FUSE_URING },
	{ "queue-depth", required_argument, NULL, O_DEPTH },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void __attribute__((noreturn, format(printf, 1, 2))) bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vramd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see vramd --help)\n");
	exit(2);
}

/* Long by design: one case per option, each validating its value. */
static void parse_args(int argc, char **argv)
{
	char *end;
	int c;

	opterr = 0; /* our own messages, with our name and a hint */
	while ((c = getopt_long(argc, argv, ":b:s:rn:u:t:j:fp:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': o.backend = optarg; break;
		case 's':
			if (parse_size(optarg, &o.size) < 0 || o.size == 0)
				bad("invalid --size '%s': want a positive size such as 8G or 512M", optarg);
			break;
		case O_GPU:
			if (parse_uint(optarg, 0, 1023, &o.gpu) < 0)
				bad("invalid --gpu '%s': want a device index", optarg);
			break;
		case O_STAGING:
			if (parse_size(optarg, &o.staging) < 0 ||
			    (o.staging && (o.staging < (2u << 20) || o.staging > (1u << 30))))
				bad("invalid --staging '%s': want 0 or a size from 2M to 1G", optarg);
			break;
		case O_RESIDENT:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				bad("invalid --resident-kernel '%s': want on or off", optarg);
			o.resident = strcmp(optarg, "on") == 0;
			break;
		case O_RESIDENT_IDLE:
			if (parse_uint(optarg, 0, 3600000, &o.resident_idle_ms) < 0)
				bad("invalid --resident-idle '%s': want milliseconds from 0 to 3600000",
				    optarg);
			break;
		case O_CUDA_SYNC:
			if (vram_cuda_sync_parse(optarg, &o.cuda_sync) < 0)
				bad("invalid --cuda-sync '%s': want auto, spin, yield or blocking", optarg);
			break;
		case 'r': o.read_only = true; break;
		case 'n':
			if (strlen(optarg) > 4096)
				bad("--export-name is longer than 4096 bytes");
			o.name = optarg;
			break;
		case O_DESC:
			if (strlen(optarg) > 4096)
				bad("--description is longer than 4096 bytes");
			o.description = optarg;
			break;
		case 'u': o.socket = optarg; break;
		case O_MODE: {
			unsigned long m = strtoul(optarg, &end, 8);

			if (!*optarg || *end || m > 0777)
				bad("invalid --socket-mode '%s': want octal such as 0600", optarg);
			o.socket_mode = (mode_t)m;
			break;
		}
		case 't': o.tcp = optarg; break;
		case O_REMOTE: o.allow_remote = true; break;
		case O_LOCAL: o.allow_local = true; break;
		case 'j':
			if (parse_uint(optarg, 1, 1024, &o.threads) < 0)
				bad("invalid --threads '%s': want 1 to 1024", optarg);
			break;
		case O_POLL:
			if (parse_uint(optarg, 0, 10000, &o.busy_poll_us) < 0)
				bad("invalid --busy-poll '%s': want microseconds, 0 to 10000", optarg);
			break;
		case O_MAXC:
			if (parse_uint(optarg, 1, 4096, &o.max_conns) < 0)
				bad("invalid --max-connections '%s': want 1 to 4096", optarg);
			break;
		case 'f': o.foreground = true; break;
		case 'p': o.pidfile = optarg; break;
		case O_LOG: o.log_file = optarg; break;
		case O_SWAP: o.swap = 1; break;
		case O_NOSWAP: o.swap = 0; break;
		case O_FORCE: o.force_exit = true; break;
		case O_STATS: o.stats_file = optarg; break;
		case O_STATS_MS:
			if (parse_uint(optarg, 0, 86400000, &o.stats_ms) < 0)
				bad("invalid --stats-interval-ms '%s'", optarg);
			break;
		case O_DUMP: o.dump = true; break;
		case O_UBLK: o.ublk = true; break;
		case O_FORCE_DEL: o.force_del = true; break;
		case O_UBLK_ID:
		case O_UBLK_DEL: {
			uint64_t v;

			if (parse_uint(optarg, 0, 1048575, &v) < 0)
				bad("invalid --%s '%s': want a device number, 0 to 1048575",
				    c == O_UBLK_ID ? "ublk-id" : "ublk-del", optarg);
			*(c == O_UBLK_ID ? &o.ublk_id : &o.ublk_del) = (int64_t)v;
			break;
		}
		case O_FUSE:
			if (!*optarg)
				bad("--fuse needs a mount point");
			if (strlen(optarg) >= 3000)
				bad("--fuse mount point is longer than 3000 bytes");
			o.fuse = optarg;
			break;
		case O_FUSE_URING:
			if (!strcmp(optarg, "auto"))
				o.fuse_uring = -1;
			else if (!strcmp(optarg, "on"))
				o.fuse_uring = 1;
			else if (!strcmp(optarg, "off"))
				o.fuse_uring = 0;
			else
				bad("invalid --fuse-uring '%s': want auto, on or off", optarg);
			break;
		case O_DEPTH:
			if (parse_uint(optarg, 1, 4096, &o.depth) < 0)
				bad("invalid --queue-depth '%s': want 1 to 4096", optarg);
			break;
		case 'v': log_level = LOG_DEBUG; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("vramd %s\n", VERSION); exit(0);
		case ':':
			bad("option '%s' requires an argument", argv[optind - 1]);
		default:
			bad("unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad("unexpected argument '%s'", argv[optind]);
	if (o.ublk_del >= 0) {
		if (o.backend || o.size || o.socket || o.tcp || o.ublk || o.fuse || o.dump)
			bad("--ublk-del takes no other option but --force");
		return;
	}
	if (o.force_del)
		bad("--force goes with --ublk-del");
	if (!o.backend)
		bad("--backend is required (vram, ram or null)");
	if (!backend_find(o.backend))
		bad("unknown backend '%s': choose vram, ram or null", o.backend);
	if (o.dump)
		return;
	if (!o.size)
		bad("--size is required");
	if (!!o.socket + !!o.tcp + o.ublk + !!o.fuse != 1)
		bad("give exactly one of --socket PATH, --tcp HOST:PORT, --ublk or --fuse MOUNTPOINT");
	if (o.ublk_id >= 0 && !o.ublk)
		bad("--ublk-id needs --ublk");
	if (o.fuse_uring != -1 && !o.fuse)
		bad("--fuse-uring needs --fuse");
	fe = o.ublk ? &frontend_ublk : o.fuse ? &frontend_fuse : NULL;
	if (o.socket && strlen(o.socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		bad("--socket path '%s' is too long for a Unix socket", o.socket);
	if (o.tcp && !o.allow_local)
		bad("--tcp lets every local user read and write the export (with swap: other "
		    "processes' pages); use --socket, or add --allow-any-local-user");
	if (o.tcp) {
		char why[320];

		if (parse_tcp(o.tcp, &tcp_addr, why, sizeof why) < 0)
			bad("%s", why);
	}
}

static void dump_backend(const struct backend_ops *ops)
{
	const struct backend_ops *const *b;
	char why[512] = "";
	int ok = ops->supported(why, sizeof why);

	printf("version=%s\ncommit=%s\nbackend=%s\nsupported=%s\n", VERSION, build_commit, ops->name,
	       ok ? "yes" : "no");
	if (!ok)
		printf("reason=%s\n", why);
	printf("backends=");
	for (b = backend_list; *b; b++)
		printf("%s%s", b == backend_list ? "" : ",", (*b)->name);
	printf("\nio_engine=io_uring\nmin_block_bytes=%u\npreferred_block_bytes=%u\nmax_block_bytes=%u\n",
	       VRAMD_MIN_BLOCK, VRAMD_PREF_BLOCK, VRAMD_MAX_BLOCK);
	printf("features=flush,fua,trim,write_zeroes,multi_conn,structured_replies,read_only\n");
	printf("max_option_bytes=%u\n", VRAMD_MAX_OPTION);
	if (ops != &backend_vram && backend_vram.dump) {
		/* Whatever the backend, say whether this build can use CUDA: the
		 * vram backend's cuda and nvml lines, not its storage lines. */
		char *buf = NULL, *line, *save;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		if (m) {
			backend_vram.dump(m);
			fclose(m);
			for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
				if (!strncmp(line, "cuda", 4) || !strncmp(line, "nvml=", 5))
					printf("%s\n", line);
			free(buf);
		}
	}
	if (ops->dump)
		ops->dump(stdout);
}

/* Unix socket: refuse to steal a live server's socket, replace a stale one. */
static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, probe;

	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			error("'%s' exists and is not a socket", path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			error("'%s' is in use by a running server", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error("socket: %m");
		return -1;
	}
	/* Create it with the right mode from the start: no window. */
	mode_t old = umask(0777 & ~o.socket_mode);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);

	umask(old);
	if (r < 0 || chmod(path, o.socket_mode) < 0 || listen(fd, 128) < 0) {
		error("cannot listen on '%s': %m", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* HOST:PORT (IPv4, "localhost" allowed) into sa; a message in why on error. */
static int parse_tcp(const char *spec, struct sockaddr_in *sa, char *why, size_t len)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	uint64_t port;

	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host ||
	    parse_uint(colon + 1, 1, 65535, &port) < 0) {
		snprintf(why, len, "invalid --tcp '%s': want HOST:PORT such as 127.0.0.1:10809", spec);
		return -1;
	}
	memcpy(host, spec, colon - spec);
	host[colon - spec] = 0;
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		snprintf(why, len, "invalid --tcp address '%s': want an IPv4 address", host);
		return -1;
	}
	if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127 && !o.allow_remote) {
		snprintf(why, len, "--tcp %s is not a loopback address; add --allow-remote to serve the network",
			 host);
		return -1;
	}
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static int listen_tcp(const char *spec)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error("socket: %m");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&tcp_addr, sizeof tcp_addr) < 0 || listen(fd, 128) < 0) {
		error("cannot listen on %s: %m", spec);
		close(fd);
		return -1;
	}
	return fd;
}

/* Swap mode.  mlockall is what keeps the server's own memory from being
 * swapped onto itself; without it there is no swap mode.  OOM immunity and
 * PR_SET_IO_FLUSHER both need CAP_SYS_RESOURCE, which some containers and
 * VMs take from root: their absence is reported, never hidden. */
static struct {
	bool locked, oom, io_flusher;
} swap_state;

static void set_swap_mode(void)
{
	int fd;

	if (o.swap == 0)
		return;
#ifdef __SANITIZE_ADDRESS__
	/* mlockall() would try to lock ASan's terabytes of shadow memory. */
	if (o.swap == 1) {
		error("swap mode is not available in an AddressSanitizer build");
		exit(1);
	}
	warn("AddressSanitizer build: swap mode off; do not use this export as swap");
	return;
#endif
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0) {
		if (o.swap == 1) {
			error("swap mode: mlockall: %m (needs root or CAP_IPC_LOCK; use --no-swap when "
			      "not serving swap)");
			exit(1);
		}
		warn("swap mode off: mlockall: %m; do not use this export as swap");
		return;
	}
	swap_state.locked = true;
	swap_mode = true;
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	swap_state.oom = fd >= 0 && write(fd, "-1000", 5) == 5;
	if (fd >= 0)
		close(fd);
	if (!swap_state.oom)
		warn("swap mode: cannot set oom_score_adj=-1000: %m (CAP_SYS_RESOURCE missing?): "
		     "the OOM killer may pick this server");
	swap_state.io_flusher = prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) == 0;
	if (!swap_state.io_flusher)
		warn("swap mode: cannot set PR_SET_IO_FLUSHER: %m (CAP_SYS_RESOURCE missing?): "
		     "allocations under memory pressure may recurse into swap I/O");
}

struct hs_arg {
	int fd;
};

/* A handshake's context: its socket and deadline (hs_fd_read), and the
 * connection slot reserved once the client asks to start transmission. */
struct hs_conn {
	struct hs_fd io;
	struct conn *slot;
};

/* Set once exit is requested and refused for live swap: no new client
 * starts transmission (it would hold the exit off). */
static volatile int exiting;

static int hs_admit(void *ctx)
{
	struct hs_conn *h = ctx;

	if (__atomic_load_n(&exiting, __ATOMIC_SEQ_CST)) {
		warn_limited("refusing a client at the end of its handshake: the server is exiting");
		return -1;
	}
	if (!h->slot && !(h->slot = workers_reserve())) {
		__atomic_add_fetch(&refused, 1, __ATOMIC_RELAXED);
		warn_limited("refusing a client at the end of its handshake: all %llu connections in use "
		     "(--max-connections)", (unsigned long long)o.max_conns);
		return -1;
	}
	return 0;
}

static void *handshake_thread(void *arg)
{
	struct hs_arg *a = arg;
	int fd = a->fd, one = 1;
	struct timeval tv = { .tv_sec = HANDSHAKE_TIMEOUT_S };
	struct hs_conn hc = { { fd, now_ns() + HANDSHAKE_TIMEOUT_S * 1000000000ull }, NULL };
	struct hs_io io = { hs_fd_read, hs_fd_write, &hc, hs_admit };
	bool structured = false;
	char why[128];
	enum hs_result r;

	free(a);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on AF_UNIX */
	r = handshake(&io, &ex, &structured, why, sizeof why);
	if (r == HS_TRANSMIT) {
		tv.tv_sec = 0;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		/* Large socket buffers let one send carry a whole batch of
		 * replies; the forced variant passes net.core.wmem_max as root. */
		int buf = 4 << 20;

		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
		debug("client negotiated (%s replies)", structured ? "structured" : "simple");
		workers_adopt(fd, structured, hc.slot); /* admitted: it has one */
		__atomic_sub_fetch(&handshakes, 1, __ATOMIC_SEQ_CST);
		return NULL;
	}
	if (r == HS_ERROR && now_ns() >= hc.io.deadline_ns)
		warn_limited("handshake failed: %s (not done within %d s)", why, HANDSHAKE_TIMEOUT_S);
	else if (r == HS_ERROR)
		warn_limited("handshake failed: %s", why);
	if (hc.slot)
		workers_unreserve(hc.slot);
	close(fd);
	/* Closed first, then no longer negotiating: the count of negotiating
	 * handshakes never covers a connection that is not open. */
	connections_add(-1);
	__atomic_sub_fetch(&handshakes, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Accepts one connection.  Returns -1 when out of descriptors (the
 * connection stays queued: the caller stops polling for a while instead of
 * spinning on it), else 0. */
static int accept_one(void)
{
	pthread_attr_t attr;
	pthread_t t;
	struct hs_arg *a;
	unsigned hs;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE) {
			warn_limited("accept: %m: not accepting for %d ms", ACCEPT_PAUSE_MS);
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			warn_limited("accept: %m");
		return 0;
	}
	/* Refused at once when every slot is taken; when more clients
	 * negotiate at once than slots are free, the last to ask for
	 * transmission are refused then (hs_admit), GO with an error. */
	hs = __atomic_load_n(&handshakes, __ATOMIC_SEQ_CST);
	if (!workers_slot_free() || hs >= (o.max_conns > HANDSHAKES_MAX ? o.max_conns : HANDSHAKES_MAX)) {
		__atomic_add_fetch(&refused, 1, __ATOMIC_RELAXED);
		if (!workers_slot_free())
			warn_limited("refusing connection: all %llu connections in use (--max-connections)",
			     (unsigned long long)o.max_conns);
		else
			warn_limited("refusing connection: %u handshakes in progress", hs);
		close(fd);
		return 0;
	}
	__atomic_add_fetch(&handshakes, 1, __ATOMIC_SEQ_CST);
	connections_add(1);
	a = malloc(sizeof *a);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	if (!a || (a->fd = fd, pthread_create(&t, &attr, handshake_thread, a) != 0)) {
		warn_limited("cannot start a handshake thread: closing the connection");
		free(a);
		close(fd);
		connections_add(-1);
		__atomic_sub_fetch(&handshakes, 1, __ATOMIC_SEQ_CST);
	}
	pthread_attr_destroy(&attr);
	return 0;
}

static void dump_stats(bool to_stderr_if_no_file)
{
	struct worker_stats *const *ws;
	unsigned n;
	json_t *doc;

	ws = fe ? fe->stats(&n) : workers_stats(&n);
	doc = stats_json(&ex, ws, n, start_ns);
	if (fe) {
		fe->describe(doc);
	} else {
		json_object_set_new(doc, "connections_max", json_integer((json_int_t)o.max_conns));
		json_object_set_new(doc, "connections_refused",
				    json_integer((json_int_t)__atomic_load_n(&refused, __ATOMIC_RELAXED)));
		json_object_set_new(doc, "handshakes_current",
				    json_integer((json_int_t)__atomic_load_n(&handshakes, __ATOMIC_RELAXED)));
	}
	json_object_set_new(doc, "swap_mode", json_pack("{s:b,s:b,s:b,s:b}", "on", swap_mode,
		"mlocked", swap_state.locked, "oom_immune", swap_state.oom,
		"io_flusher", swap_state.io_flusher));
	if (o.stats_file)
		stats_write_file(doc, o.stats_file);
	else if (to_stderr_if_no_file)
		json_dumpf(doc, stderr, JSON_INDENT(1) | JSON_SORT_KEYS), fputc('\n', stderr);
	json_decref(doc);
}

static int write_pidfile(void)
{
	int fd;

	if (!o.pidfile)
		return 0;
	fd = file_open_private(o.pidfile, O_TRUNC, 0644);
	if (fd < 0) {
		error("cannot write pidfile '%s': %s", o.pidfile, file_why(errno));
		return -1;
	}
	if (dprintf(fd, "%d\n", getpid()) < 0) {
		error("cannot write pidfile '%s': %m", o.pidfile);
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		error("cannot write pidfile '%s': %m", o.pidfile);
		return -1;
	}
	return 0;
}

/* Signals set flags and wake the main loop through a pipe.  A handler,
 * not a blocked mask and signalfd: threads we do not create (the CUDA
 * driver's) may unblock signals, and a signal delivered to one of them
 * would otherwise take its default action and kill the server.  The flags,
 * not the pipe's bytes, say what came: a burst of SIGUSR1 costs one dump
 * per wake-up, and a termination request is never lost to a full pipe. */
static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t sig_term; /* the last SIGTERM/SIGINT, or 0 */
static volatile sig_atomic_t sig_dump; /* SIGUSR1 since the last dump */

static void on_signal(int signo)
{
	int saved = errno;

	if (signo == SIGUSR1)
		sig_dump = 1;
	else if (signo == SIGTERM || signo == SIGINT)
		sig_term = signo;
	if (write(sig_pipe[1], "", 1) < 0) {
		/* pipe full: the main loop is woken anyway */
	}
	errno = saved;
}

static int signals_init(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	unsigned i;

	signal(SIGPIPE, SIG_IGN);
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		error("pipe: %m");
		return -1;
	}
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
}

/* Whether a client holds the export: an NBD connection being served (one
 * still negotiating cannot be a swap client), or the front end's device
 * held open (swapon, a loop device). */
static unsigned clients(void)
{
	unsigned open, hs;

	if (fe)
		return fe->busy() ? 1 : 0;
	open = connections_open();
	hs = __atomic_load_n(&handshakes, __ATOMIC_SEQ_CST);
	return open > hs ? open - hs : 0;
}

/* Main loop: accept, signals, statistics timer.  Returns the exit code. */
static int serve(void)
{
	struct pollfd pf[3];
	int sfd = sig_pipe[0], tfd = -1, exit_pending = 0;
	uint64_t accept_again = 0; /* accepting paused until then (ns), 0: not */

	if (o.stats_file && o.stats_ms) {
		struct itimerspec its = {
			.it_interval = { (time_t)(o.stats_ms / 1000), (long)(o.stats_ms % 1000) * 1000000 },
		};

		its.it_value = its.it_interval;
		tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		timerfd_settime(tfd, 0, &its, NULL);
	}
	pf[0] = (struct pollfd){ .fd = listen_fd, .events = POLLIN }; /* -1: ignored */
	pf[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pf[2] = (struct pollfd){ .fd = tfd, .events = POLLIN };

	for (;;) {
		/* A front end's device can go away under us (deleted,
		 * unmounted by hand): looked at every 200 ms. */
		int r;

		if (accept_again && now_ns() >= accept_again && listen_fd >= 0) {
			accept_again = 0;
			pf[0].fd = listen_fd;
		}
		r = poll(pf, 3, accept_again ? ACCEPT_PAUSE_MS : exit_pending || fe ? 200 : -1);

		if (r < 0 && errno == EINTR)
			continue; /* the signal is in the pipe */
		if (r < 0) {
			error("poll: %m");
			return 1;
		}
		if (exit_pending && clients() == 0) {
			info(fe ? "device released: exiting" : "last client disconnected: exiting");
			return 0;
		}
		if (fe && fe->gone()) {
			error("the %s device went away (deleted or unmounted from outside): exiting",
			      fe->name);
			return 1;
		}
		if ((pf[0].revents & POLLIN) && accept_one() < 0) {
			accept_again = now_ns() + ACCEPT_PAUSE_MS * 1000000ull;
			pf[0].fd = -1;
		}
		if (pf[2].revents & POLLIN) {
			uint64_t ticks;

			if (read(tfd, &ticks, sizeof ticks) > 0)
				dump_stats(false);
		}
		if (pf[1].revents & POLLIN) {
			unsigned char drain[256];
			int signo = sig_term;

			while (read(sfd, drain, sizeof drain) > 0)
				;
			if (sig_dump) {
				sig_dump = 0;
				dump_stats(true);
			}
			if (!signo || exit_pending) {
				/* SIGHUP, or a repeated request: nothing new */
			} else if (!swap_mode || o.force_exit || clients() == 0) {
				info("%s: exiting", strsignal(signo));
				return 0;
			} else if (fe) {
				exit_pending = 1;
				warn("%s: refusing to exit: the device is in use and may back live swap "
				     "(its pages would be lost); swapoff (and detach the loop device) "
				     "first, or restart with --force-exit; will exit when it is released",
				     strsignal(signo));
			} else {
				exit_pending = 1;
				/* No new client: connecting ones are refused, ones
				 * still negotiating cannot start transmission. */
				__atomic_store_n(&exiting, 1, __ATOMIC_SEQ_CST);
				close(listen_fd);
				listen_fd = -1;
				pf[0].fd = -1;
				warn("%s: refusing to exit: %u client(s) connected and this export may back "
				     "live swap (their pages would be lost); swapoff and disconnect first, "
				     "or restart with --force-exit; will exit when the last client leaves",
				     strsignal(signo), clients());
			}
		}
	}
}

/* Descriptors: every connection served and every one negotiating, each
 * worker's ring and eventfd, and room for the rest (log, statistics,
 * signals, the GPU driver's device files).  The soft limit is raised to
 * that; a hard limit below it is refused at start, instead of accepts
 * failing with EMFILE later. */
static int raise_nofile(void)
{
	uint64_t hs = o.max_conns > HANDSHAKES_MAX ? o.max_conns : HANDSHAKES_MAX;
	uint64_t need = o.max_conns + hs + 2 * o.threads + 128;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		error("getrlimit(RLIMIT_NOFILE): %m");
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		error("the open-file limit is %llu (hard), below the %llu descriptors that "
		      "--max-connections %llu and --threads %llu need: raise it (ulimit -Hn, "
		      "LimitNOFILE=) or lower --max-connections", (unsigned long long)rl.rlim_max,
		      (unsigned long long)need, (unsigned long long)o.max_conns,
		      (unsigned long long)o.threads);
		return -1;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		error("setrlimit(RLIMIT_NOFILE, %llu): %m", (unsigned long long)need);
		return -1;
	}
	return 0;
}

/* backend_config.wake: the queue or worker that owns the context. */
static void wake(unsigned idx)
{
	if (fe)
		fe->wake(idx);
	else
		workers_wake(idx);
}

/* The daemon's parent: waits for the child's status byte (0: serving),
 * then prints what follows it (a front end's device path). */
static int wait_ready(int fd)
{
	char buf[4096];
	size_t have = 0;
	ssize_t n;

	while (have < sizeof buf - 1 && (n = read(fd, buf + have, sizeof buf - 1 - have)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		have += (size_t)n;
	}
	if (have == 0 || buf[0] != 0)
		return 1;
	if (have > 1) {
		buf[have] = 0;
		printf("%s\n", buf + 1);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The daemon's life in order: options, backend, log, listening socket or
 * front end (ublk, FUSE), readiness, serving, shutdown.  Long because it
 * is that sequence and nothing else: each step is a call, and every
 * failure leaves by the one path at the end that undoes what was made. */
int main(int argc, char **argv)
{
	const struct backend_ops *ops;
	struct backend_config cfg;
	char why[512] = "", sz[32], path[4096] = "";
	int ready[2] = { -1, -1 }, rc;
	bool stuck = false;

	log_init("vramd", LOG_INFO);
	parse_args(argc, argv);
	if (o.ublk_del >= 0)
		return ublk_delete((int)o.ublk_del, o.force_del) < 0 ? 1 : 0;
	ops = backend_find(o.backend);
	if (o.dump) {
		dump_backend(ops);
		return 0;
	}
	if (o.log_file && log_to_file(o.log_file) < 0) {
		error("cannot open log file '%s': %s", o.log_file, file_why(errno));
		return 1;
	}
	if (!o.threads) {
		/* A connection stays on one worker: more workers than
		 * connections would only idle (with the vram backend, each
		 * holding pinned staging and a resident-kernel block). */
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o.threads = n > 0 ? (uint64_t)n : 1;
		if (o.threads > o.max_conns)
			o.threads = o.max_conns;
	}

	if (!fe && raise_nofile() < 0)
		return 1;

	/* Daemonize before creating the backend: a CUDA context or locked
	 * memory does not survive fork().  The parent waits for the child to
	 * be listening, so "vramd ... && nbdinfo ..." works. */
	if (!o.foreground) {
		pid_t pid;

		if (pipe2(ready, O_CLOEXEC) < 0) {
			error("pipe: %m");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			error("fork: %m");
			return 1;
		}
		if (pid > 0) {
			close(ready[1]);
			return wait_ready(ready[0]);
		}
		close(ready[0]);
		setsid();
	}

	/* After fork: CUDA initialised in a parent is unusable in its child. */
	if (!ops->supported(why, sizeof why)) {
		error("backend '%s' cannot run here: %s", ops->name, why);
		return 1;
	}
	if (fe && !fe->supported(why, sizeof why)) {
		error("--%s cannot run here: %s", fe->name, why);
		return 1;
	}
	if (signals_init() < 0)
		return 1;

	set_swap_mode();
	start_ns = now_ns();
	ex.name = o.name;
	ex.description = o.description;
	ex.size = o.size;
	ex.read_only = o.read_only;
	ex.ops = ops;
	export_init_flags(&ex);
	cfg = (struct backend_config){ .size = o.size, .gpu = (int)o.gpu,
				       /* --fuse: one more for the /dev/fuse reader
					* beside the io_uring queues (front-fuse.c) */
				       .workers = (unsigned)o.threads + (o.fuse ? 1 : 0),
				       .max_request = VRAMD_MAX_BLOCK,
				       .cuda_sync = o.cuda_sync, .staging = (uint32_t)o.staging,
				       .resident = o.resident,
				       .resident_idle_ms = (uint32_t)o.resident_idle_ms,
				       .wake = wake };
	ex.backend = ops->create(&cfg);
	if (!ex.backend)
		return 1;
	if (fe) {
		struct frontend_config fc = { .target = o.fuse, .dev_id = (int)o.ublk_id,
					      .queues = (unsigned)o.threads, .depth = (unsigned)o.depth,
					      .uring = o.fuse_uring, .swap = swap_mode,
					      .poll_us = (unsigned)o.busy_poll_us };

		/* After a failure the backend is left to the exit: a front
		 * end thread that did not stop may still use it. */
		if (fe->start(&ex, &fc, path, sizeof path) < 0)
			return 1;
		if (write_pidfile() < 0) {
			if (fe->stop() == 0)
				ops->free(ex.backend);
			return 1;
		}
	} else {
		listen_fd = o.socket ? listen_unix(o.socket) : listen_tcp(o.tcp);
		if (listen_fd < 0)
			return 1;
		if (workers_start(&ex, (unsigned)o.threads, (unsigned)o.max_conns, (unsigned)o.busy_poll_us) < 0 || write_pidfile() < 0)
			return 1;
	}
	if (o.tcp)
		warn("serving on TCP %s: any local user%s can read and write this export%s", o.tcp,
		     o.allow_remote ? " and any host that reaches it" : "",
		     swap_mode ? ", which may hold other processes' swapped-out pages" : "");
	info("serving backend '%s', %s%s, on %s (%llu %s%s)", ops->name,
	     format_size(ex.size, sz, sizeof sz), ex.read_only ? " read-only" : "",
	     fe ? path : o.socket ? o.socket : o.tcp, (unsigned long long)o.threads,
	     fe ? "queues" : "workers", swap_mode ? ", swap mode" : "");
	if (ready[1] >= 0) {
		char c = 0;
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			close(null);
		}
		if (write(ready[1], &c, 1) != 1 || (fe && write(ready[1], path, strlen(path)) < 0))
			return 1;
		close(ready[1]);
	} else if (fe) {
		printf("%s\n", path);
		fflush(stdout);
	}

	rc = serve();
	if (fe && fe->stop() < 0) {
		stuck = true;
		rc = 1;
	} else if (!fe) {
		workers_stop();
	}
	dump_stats(false);
	if (listen_fd >= 0)
		close(listen_fd);
	if (o.socket)
		unlink(o.socket);
	if (o.pidfile)
		unlink(o.pidfile);
	if (!stuck)
		ops->free(ex.backend); /* else left to the exit */
	return rc;
}
