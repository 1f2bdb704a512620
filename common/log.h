/* Logging for swapbench and vramd: one line per message on stderr (or a log
 * file), prefixed with the program name; errors are reported once, where
 * they happen.  log_init("vramd") once at start-up. */
#ifndef SWAPBENCH_LOG_H
#define SWAPBENCH_LOG_H

#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the program name used as prefix and the level (messages above it
 * are dropped).  Not thread-safe; call before starting threads. */
void log_init(const char *prog, enum log_level level);
/* Redirects messages to FILE (append); returns -1 with errno on failure. */
int log_to_file(const char *path);
extern enum log_level log_level;

/* Each prints "PROG: message\n" atomically (one write); warnings get
 * "warning: ", debug "debug: " prefixes. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define debug(...) do { if (log_level >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/* A warning that can repeat at a client's pace (refused connections,
 * failed handshakes): at most one line per second from each call site;
 * the next line says how many were held back.  Thread-safe. */
struct log_limit {
	uint64_t next_ns;
	unsigned held;
};
void log_limited(struct log_limit *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define warn_limited(...)                                                                     \
	do {                                                                                  \
		static struct log_limit log_limit_here;                                       \
		log_limited(&log_limit_here, __VA_ARGS__);                                    \
	} while (0)

#endif
