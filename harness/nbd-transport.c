/* The nbd tier's transport table, auto's choice and what the transports
 * share: see nbd-transport.h. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "nbd-transport.h"
#include "procfs.h"
#include "run.h"

const struct nbd_transport *const nbd_transports[] = {
#define X(n) &nbd_transport_##n,
	NBD_TRANSPORTS(X)
#undef X
	NULL,
};

#define NTRANSPORTS (sizeof nbd_transports / sizeof nbd_transports[0] - 1)

const struct nbd_transport *nbd_transport_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	if (!strcmp(name, "fuse"))
		return &nbd_transport_nbdfuse;
	for (i = 0; nbd_transports[i]; i++)
		if (!strcmp(nbd_transports[i]->name, name))
			return nbd_transports[i];
	return NULL;
}

int nbd_transport_pick(const char *const names[], const bool ok[], const char *const reasons[],
		       int n, char *why, size_t len)
{
	size_t used = 0;
	int i;

	if (len)
		why[0] = '\0';
	for (i = 0; i < n; i++) {
		if (ok[i])
			break;
		if (used < len)
			used += (size_t)snprintf(why + used, len - used, "%s%s passed over: %s",
						 used ? "; " : "", names[i], reasons[i]);
	}
	if (i == n) {
		if (used < len)
			snprintf(why + used, len - used, "%snone is offered", used ? "; " : "");
		return -1;
	}
	if (used < len)
		snprintf(why + used, len - used, "%s%s is the %s offered", used ? "; " : "", names[i],
			 used ? "first" : "first choice and");
	return i;
}

bool nbd_transport_usable(const struct nbd_transport *tr, const struct tier *t, char *why,
			  size_t len)
{
	char vramd[PATH_MAX];

	nbd_vramd_path(t, vramd, sizeof vramd);
	if (!tr->offered(vramd, why, len))
		return false;
	return !tr->check || tr->check(t, why, len);
}

bool nbd_transport_resolve(const struct tier *t, const struct nbd_transport **out, char *why,
			   size_t len)
{
	const char *name = tier_get(t, "transport");
	const char *names[NTRANSPORTS], *reasons[NTRANSPORTS];
	char detail[NTRANSPORTS][384], one[384];
	bool ok[NTRANSPORTS];
	size_t i;
	int k;

	*out = NULL;
	if (strcmp(name, "auto")) {
		*out = nbd_transport_find(name);
		if (!*out) {
			snprintf(why, len, "--transport: expected ublk, kernel, vramd-fuse, nbdfuse "
				 "(or its old name fuse) or auto, got '%s'", name);
			return false;
		}
		if (!nbd_transport_usable(*out, t, one, sizeof one)) {
			snprintf(why, len, "transport %s: %s; --transport auto takes the best one "
				 "this host offers (swapbench doctor lists them)", (*out)->name, one);
			return false;
		}
		snprintf(why, len, "asked for with --transport %s", name);
		return true;
	}
	for (i = 0; i < NTRANSPORTS; i++) {
		names[i] = nbd_transports[i]->name;
		ok[i] = nbd_transport_usable(nbd_transports[i], t, detail[i], sizeof detail[i]);
		reasons[i] = detail[i];
	}
	k = nbd_transport_pick(names, ok, reasons, (int)NTRANSPORTS, why, len);
	if (k < 0)
		return false;
	*out = nbd_transports[k];
	return true;
}

json_t *nbd_transports_json(void)
{
	json_t *out = json_object(), *settings = json_object(), *state = json_object();
	struct tier t = { .ops = &tier_nbd, .settings = settings, .state = state, .dry_run = true };
	const struct nbd_transport *pick;
	char vramd[PATH_MAX], detail[512];
	size_t i;

	nbd_vramd_path(&t, vramd, sizeof vramd);
	for (i = 0; nbd_transports[i]; i++) {
		bool ok = nbd_transports[i]->offered(vramd, detail, sizeof detail);

		json_object_set_new(out, nbd_transports[i]->name, json_pack("{s:b, s:s, s:s}",
			"offered", ok, "detail", detail, "summary", nbd_transports[i]->summary));
	}
	if (nbd_transport_resolve(&t, &pick, detail, sizeof detail))
		json_object_set_new(out, "auto", json_string(pick->name));
	else
		json_object_set_new(out, "auto", json_null());
	json_object_set_new(out, "auto_why", json_string(detail));
	json_decref(settings);
	json_decref(state);
	return out;
}

/* --- shared helpers ----------------------------------------------------------------- */

void nbd_vramd_path(const struct tier *t, char *buf, size_t len)
{
	const char *v = tier_get(t, "vramd");
	char self[PATH_MAX];

	if (v) {
		snprintf(buf, len, "%s", v);
		return;
	}
	/* Beside swapbench (the build), then PREFIX/sbin beside PREFIX/bin
	 * (make install), then $PATH. */
	if (self_dir(self, sizeof self) == 0 &&
	    ((pathf(buf, len, "%s/vramd", self) == 0 && access(buf, X_OK) == 0) ||
	     (pathf(buf, len, "%s/../sbin/vramd", self) == 0 && access(buf, X_OK) == 0)))
		return;
	snprintf(buf, len, "vramd");
}

const char *nbd_log_tail(const char *path, char *buf, size_t len)
{
	char *all = read_all(path), *end, *nl;

	snprintf(buf, len, "(no log)");
	if (!all)
		return buf;
	end = all + strlen(all);
	while (end > all && end[-1] == '\n')
		*--end = '\0';
	nl = strrchr(all, '\n');
	snprintf(buf, len, "%s", nl ? nl + 1 : all);
	free(all);
	return buf;
}

pid_t nbd_read_pidfile(const char *path)
{
	char buf[32];

	return read_text(path, buf, sizeof buf) > 0 ? (pid_t)atoi(buf) : 0;
}

void nbd_oom_protect(pid_t pid, const char *name)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)pid);
	if (write_text(path, "-1000", true) < 0)
		warn("cannot make %s (pid %d) immune to the OOM killer: %m (needs CAP_SYS_RESOURCE)",
		     name, (int)pid);
}

bool nbd_module_available(const char *module, const char *present)
{
	const char *modprobe[] = { "modprobe", "-n", "-q", module, NULL };
	char sys[128];

	snprintf(sys, sizeof sys, "/sys/module/%s", module);
	if (access(present, F_OK) == 0 || access(sys, F_OK) == 0)
		return true;
	return have_command("modprobe") && run(modprobe, TIMEOUT_QUICK_S, RUN_QUIET, NULL) == 0;
}

int nbd_load_module(struct tier *t, const char *module, const char *present)
{
	const char *modprobe[] = { "modprobe", module, NULL };
	const char *rmmod[] = { "rmmod", module, NULL };
	char sys[128];

	snprintf(sys, sizeof sys, "/sys/module/%s", module);
	if (access(present, F_OK) == 0 || access(sys, F_OK) == 0)
		return 0;
	/* Only while it is loaded: a crash between this entry and the
	 * modprobe, or a failed modprobe, leaves nothing to unload, and an
	 * rmmod that fails would hold every later restore. */
	if (change_on_undo_run_if(t->j, rmmod, TIMEOUT_QUICK_S, sys) < 0)
		return -1;
	return run(modprobe, TIMEOUT_QUICK_S, t->dry_run ? RUN_DRY : 0, NULL);
}

/* What `vramd ARG1 ARG2` printed (malloc'd), or NULL when it could not
 * run or did not answer in time.  Through a file: the help is longer than
 * what run() keeps of a command's output. */
static char *vramd_says(const char *vramd, const char *arg1, const char *arg2)
{
	const char *argv[] = { vramd, arg1, arg2, NULL };
	struct child_opts o = { .own_pgrp = true };
	char path[] = "/tmp/swapbench-vramd-out.XXXXXX", *text;
	int fd, status, rc;
	bool hung;

	if (!have_command(vramd))
		return NULL;
	fd = mkstemp(path);
	if (fd < 0) {
		error("cannot create '%s': %m", path);
		return NULL;
	}
	close(fd);
	o.output = path;
	rc = child_run(argv, &o, TIMEOUT_QUICK_S * 1000, 100, NULL, NULL, REAP_DEADLINE_MS, vramd,
		       &status, &hung);
	if (rc == 0 || rc == 2)
		warn("'%s %s' did not answer within %d s", vramd, arg1, TIMEOUT_QUICK_S);
	text = read_all(path);
	unlink(path);
	if (rc != 1) {
		free(text);
		return NULL;
	}
	return text;
}

bool nbd_vramd_has(const char *vramd, const char *option)
{
	char *text = vramd_says(vramd, "--help", NULL);
	bool has = text && vramd_has_option(text, option);

	free(text);
	return has;
}

json_t *nbd_vramd_dump(const char *vramd)
{
	char *text = vramd_says(vramd, "--dump-backend", "--backend=vram"), *line, *save = NULL, *eq;
	json_t *o;

	if (!text)
		return NULL;
	o = json_object();
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if ((eq = strchr(line, '=')) && eq != line) {
			*eq = '\0';
			json_object_set_new(o, line, json_string(eq + 1));
		}
	free(text);
	return o;
}

bool nbd_vram_works(const char *vramd, char *why, size_t len)
{
	json_t *d = nbd_vramd_dump(vramd);
	const char *reason = json_string_value(json_object_get(d, "reason"));
	bool yes = !strcmp(json_string_value(json_object_get(d, "supported")) ?: "", "yes");

	if (!d)
		snprintf(why, len, "'%s --dump-backend --backend=vram' did not answer", vramd);
	else
		snprintf(why, len, "%s", reason ? reason : "vramd gave no reason");
	json_decref(d);
	return yes;
}

int nbd_prepare_socket(struct tier *t, const struct nbd_paths *p, struct vramd_conf *c)
{
	uint64_t conns = 4;

	tier_uint(t, "connections", 1, 16, &conns);
	c->mode = VRAMD_SOCKET;
	c->socket = p->sock;
	/* Room for a client that reconnects before its old connection is gone. */
	c->max_connections = (unsigned)conns + 4;
	return 0;
}

int nbd_loop_on(struct tier *t, const char *file, char *dev, size_t len)
{
	bool dio = false;

	if (change_loop(t->j, file, dev, len, &dio) < 0)
		return -1;
	json_object_set_new(t->state, "direct_io", json_boolean(dio));
	if (!dio)
		warn("'%s' has no direct I/O: swap writes go through the page cache", dev);
	return 0;
}
