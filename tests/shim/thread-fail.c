/* LD_PRELOAD shim for tests: pthread_create fails (EAGAIN) from the Nth
 * call on (THREAD_FAIL_AT=N), and at exit the shim prints to stderr how
 * many threads were created and how many of those were joined, so a test
 * can tell whether a program that gave up starting its threads stopped
 * the ones it had started.  Built by tests/test-hostile-threads.sh. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int calls, created, joined;

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	const char *at = getenv("THREAD_FAIL_AT");
	int r;

	if (!real)
		real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))
			dlsym(RTLD_NEXT, "pthread_create");
	if (at && ++calls >= atoi(at))
		return EAGAIN;
	r = real(t, a, fn, arg);
	if (r == 0)
		__atomic_add_fetch(&created, 1, __ATOMIC_SEQ_CST);
	return r;
}

int pthread_join(pthread_t t, void **ret)
{
	static int (*real)(pthread_t, void **);
	int r;

	if (!real)
		real = (int (*)(pthread_t, void **))dlsym(RTLD_NEXT, "pthread_join");
	r = real(t, ret);
	if (r == 0)
		__atomic_add_fetch(&joined, 1, __ATOMIC_SEQ_CST);
	return r;
}

__attribute__((destructor)) static void report(void)
{
	fprintf(stderr, "thread-fail: created %d joined %d\n", created, joined);
}
