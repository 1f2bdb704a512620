/* The fio-raw scenario kind: see fio-raw.h. */
#include "fio-raw.h"
#include "log.h"

int fio_raw_measure(const struct scenario *sc, struct tier *t, const char *out_dir,
		    const char *tag, json_t *run, json_t *children)
{
	(void)sc; (void)t; (void)out_dir; (void)tag; (void)run; (void)children;
	error("fio-raw: not written yet");
	return -1;
}
