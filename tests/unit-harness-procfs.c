/* Unit tests for harness/procfs.c and memcg_pick: the exact-key parsers fed
 * with /proc and sysfs texts captured on a 6.18 kernel and with older or
 * odd shapes, all in tests/fixtures/harness/.  Run from the top directory
 * (or with $top set, as tests/run-tests does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memcg.h"
#include "procfs.h"
#include "unit.h"

static char *fixture(const char *name)
{
	const char *top = getenv("top");
	char path[4096];
	char *t;

	snprintf(path, sizeof path, "%s/tests/fixtures/harness/%s", top && *top ? top : ".", name);
	t = read_all(path);
	if (!t) {
		fprintf(stderr, "cannot read fixture '%s'\n", path);
		exit(1);
	}
	return t;
}

static json_int_t jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v ? json_integer_value(v) : -1;
}

static void test_kv(void)
{
	char *vm = fixture("proc-vmstat-6.18.txt"), *st = fixture("proc-pid-status.txt");
	char *crypto = fixture("proc-crypto-6.18.txt"), *v1 = fixture("memcg-v1-oom_control.txt");
	char *v2 = fixture("memcg-v2-memory.events");
	const char *tricky = "pswpin_extra 5\npswpin 7\nnr_swapcached 3\n  \n:odd\nzswpout 9";
	char buf[64], list[256];
	uint64_t v;

	CHECK(kv_u64(vm, "pswpout", &v) == 0 && v == 12034740);
	CHECK(kv_u64(vm, "zswpout", &v) == 0);
	CHECK(kv_u64(vm, "pswp", &v) == -1);		/* no prefix matches */
	CHECK(kv_u64(vm, "no_such_key", &v) == -1);
	CHECK(kv_u64(tricky, "pswpin", &v) == 0 && v == 7);
	CHECK(kv_u64(tricky, "swapcached", &v) == -1);
	CHECK(kv_u64(tricky, "zswpout", &v) == 0 && v == 9); /* last line, no newline */
	CHECK(kv_u64(st, "VmSwap", &v) == 0 && v == 132112); /* "VmSwap:\t  132112 kB" */
	CHECK(kv_str(st, "Name", buf, sizeof buf) == 0 && !strcmp(buf, "memtouch"));
	CHECK(kv_str(st, "State", buf, sizeof buf) == 0 && !strcmp(buf, "R (running)"));
	CHECK(kv_u64(st, "Vm", &v) == -1);
	CHECK(kv_has(crypto, "name", "lzo-rle"));
	CHECK(!kv_has(crypto, "name", "lzo-"));
	CHECK(!kv_has(crypto, "name", "lz4"));
	CHECK(crypto_compressors(crypto, list, sizeof list) == 3);
	CHECK(!strcmp(list, "lzo-rle lzo deflate"));
	CHECK(kv_u64(v1, "oom_kill", &v) == 0 && v == 0);
	CHECK(kv_u64(v1, "oom_kill_disable", &v) == 0 && v == 0);
	CHECK(kv_u64(v2, "oom_kill", &v) == 0 && v == 1);
	CHECK(kv_u64(v2, "oom", &v) == 0 && v == 2);
	free(vm);
	free(st);
	free(crypto);
	free(v1);
	free(v2);
}

static void test_fields(void)
{
	char *mm = fixture("zram-mm_stat-6.18.txt"), *old = fixture("zram-mm_stat-4.19.txt");
	char *io = fixture("zram-io_stat-6.18.txt"), *bs = fixture("block-stat-zram0-6.18.txt");
	char *bs_old = fixture("block-stat-4.19.txt");
	json_t *o = json_object();

	CHECK(fields_to_json(mm, zram_mm_fields, zram_mm_nfields, o) == 9);
	CHECK(jint(o, "orig_data_bytes") == 135069696);
	CHECK(jint(o, "compr_data_bytes") == 134888062);
	CHECK(jint(o, "mem_used_max_bytes") == 135712768);
	CHECK(jint(o, "huge_pages") == 32920);
	CHECK(jint(o, "huge_pages_since") == 65216);
	json_object_clear(o);
	CHECK(fields_to_json(old, zram_mm_fields, zram_mm_nfields, o) == 7);
	CHECK(jint(o, "orig_data_bytes") == 4096 && jint(o, "pages_compacted") == 0);
	CHECK(!json_object_get(o, "huge_pages"));
	json_object_clear(o);
	CHECK(fields_to_json(io, zram_io_fields, zram_io_nfields, o) == 4);
	CHECK(jint(o, "notify_free") == 32303);
	json_object_clear(o);
	CHECK(fields_to_json(bs, blockstat_fields, blockstat_nfields, o) == 17);
	CHECK(jint(o, "write_ios") == 65279);
	CHECK(jint(o, "write_bytes") == 522232LL * 512);	/* sectors are 512 bytes */
	CHECK(jint(o, "read_bytes") == 260776LL * 512);
	CHECK(jint(o, "flush_ticks_ms") == 0);
	json_object_clear(o);
	CHECK(fields_to_json(bs_old, blockstat_fields, blockstat_nfields, o) == 11);
	CHECK(jint(o, "time_in_queue_ms") == 246977 && !json_object_get(o, "discard_ios"));
	json_object_clear(o);
	CHECK(fields_to_json("1 2 x", blockstat_fields, blockstat_nfields, o) == -1);
	json_decref(o);
	free(mm);
	free(old);
	free(io);
	free(bs);
	free(bs_old);
}

static void test_choice(void)
{
	char *alg = fixture("zram-comp_algorithm.txt"), *thp = fixture("thp-enabled.txt");
	char cur[32], list[128];

	CHECK(choice_parse(alg, cur, sizeof cur, list, sizeof list) == 0);
	CHECK(!strcmp(cur, "lzo-rle") && !strcmp(list, "lzo-rle lzo lz4"));
	CHECK(choice_parse(thp, cur, sizeof cur, list, sizeof list) == 0);
	CHECK(!strcmp(cur, "madvise") && !strcmp(list, "always madvise never"));
	CHECK(choice_parse("lzo lz4", cur, sizeof cur, NULL, 0) == -1);
	CHECK(word_in(list, "never") && word_in(list, "always") && !word_in(list, "mad"));
	CHECK(!word_in("lzo-rle", "lzo"));
	free(alg);
	free(thp);
}

static void test_swaps(void)
{
	char *z = fixture("proc-swaps-zram.txt"), *e = fixture("proc-swaps-escaped.txt");
	char *none = fixture("proc-swaps-empty.txt");
	struct swap_area a[4];

	CHECK(swaps_parse(z, a, 4) == 1);
	CHECK(!strcmp(a[0].name, "/dev/zram0") && !strcmp(a[0].type, "partition"));
	CHECK(a[0].size_kib == 1048572 && a[0].used_kib == 131972 && a[0].priority == 100);
	CHECK(swaps_parse(e, a, 4) == 3);
	CHECK(!strcmp(a[1].name, "/var/tmp/my swap\tfile"));
	CHECK(a[1].priority == -2 && !strcmp(a[1].type, "file"));
	CHECK(a[2].priority == -3 && a[2].used_kib == 1024);
	CHECK(swaps_parse(e, a, 1) == 3);	/* counts beyond max */
	CHECK(swaps_parse(none, a, 4) == 0);
	CHECK(swaps_parse("", a, 4) == 0);
	CHECK(swaps_parse("Filename Type\n/dev/x partition garbage\n", a, 4) == -1);
	free(z);
	free(e);
	free(none);
}

static void test_pid(void)
{
	char *st = fixture("proc-pid-stat.txt"), *odd = fixture("proc-pid-stat-odd-comm.txt");
	uint64_t ticks;
	char s;

	CHECK(pidstat_parse(st, &s, &ticks) == 0 && s == 'R' && ticks == 3315376);
	CHECK(pidstat_parse(odd, &s, &ticks) == 0 && s == 'S' && ticks == 987654);
	CHECK(pidstat_parse("12 (x) R 1 2", &s, &ticks) == -1);
	CHECK(pidstat_parse("garbage", &s, &ticks) == -1);
	CHECK(pidstat_cpu_ticks(st, &ticks) == 0 && ticks == 9 + 110);
	CHECK(pidstat_cpu_ticks(odd, &ticks) == 0 && ticks == 1 + 2);
	CHECK(pidstat_cpu_ticks("12 (x) R 1 2 3", &ticks) == -1);
	free(st);
	free(odd);
}

struct ctl { const char *mnt, *text; };

static const char *fake_controllers(const char *mnt, void *arg)
{
	const struct ctl *c = arg;

	for (; c->mnt; c++)
		if (!strcmp(c->mnt, mnt))
			return c->text;
	return NULL;
}

static void test_mounts(void)
{
	char *hy = fixture("proc-mounts-hybrid.txt"), *v2 = fixture("proc-mounts-v2.txt");
	char *none = fixture("proc-mounts-none.txt");
	const struct ctl hybrid_ctl[] = { { "/sys/fs/cgroup/unified", "" }, { NULL, NULL } };
	const struct ctl v2_ctl[] = { { "/sys/fs/cgroup", "cpuset cpu io memory pids" }, { NULL, NULL } };
	const struct ctl v2_nomem[] = { { "/sys/fs/cgroup", "cpuset cpu io pids" }, { NULL, NULL } };
	struct memcg_root r;
	struct mount_entry m;
	const char *p = v2;
	int found = 0;

	/* This host: v2 mounted without memory, v1 memory beside it. */
	CHECK(memcg_pick(hy, fake_controllers, (void *)hybrid_ctl, &r) == 0);
	CHECK(r.version == 1 && !strcmp(r.root, "/sys/fs/cgroup/memory"));
	CHECK(memcg_pick(v2, fake_controllers, (void *)v2_ctl, &r) == 0);
	CHECK(r.version == 2 && !strcmp(r.root, "/sys/fs/cgroup"));
	CHECK(memcg_pick(v2, fake_controllers, (void *)v2_nomem, &r) == -1);
	CHECK(memcg_pick(none, fake_controllers, (void *)v2_ctl, &r) == -1);
	while (mounts_next(&p, &m))
		if (!strcmp(m.dir, "/mnt/usb disk") && !strcmp(m.type, "ext4"))
			found++;
	CHECK(found == 1);
	CHECK(opt_has("rw,relatime,memory", "memory") && !opt_has("rw,memory_recursiveprot", "memory"));
	free(hy);
	free(v2);
	free(none);
}

int main(void)
{
	test_kv();
	test_fields();
	test_choice();
	test_swaps();
	test_pid();
	test_mounts();
	UNIT_DONE();
}
