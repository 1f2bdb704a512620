/* Configuration advice rules: see advice.h.  To add a rule: one function
 * and one row in `rules`. */
#include <stdio.h>

#include "advice.h"

static bool double_compression(const struct host_facts *f, char *m, size_t n)
{
	if (!f->zram_swap || !f->zswap_enabled)
		return false;
	snprintf(m, n, "zram and zswap are both active: pages are compressed twice (zswap in "
		 "front of zram); turn zswap off, or use zswap over a disk swap instead of zram");
	return true;
}

static bool swappiness_ram_tier(const struct host_facts *f, char *m, size_t n)
{
	if (!(f->zram_swap || f->zswap_enabled) || f->swappiness < 0 || f->swappiness >= 100)
		return false;
	snprintf(m, n, "vm.swappiness is %d with a RAM-speed swap tier (zram or zswap): swapping "
		 "there costs less than refaulting page cache; 100 to 200 lets the kernel use it",
		 f->swappiness);
	return true;
}

static bool kubelet_fail_swap_on(const struct host_facts *f, char *m, size_t n)
{
	if (!f->kubelet || !f->swap_active || !f->fail_swap_on)
		return false;
	snprintf(m, n, "this Kubernetes node has swap on but kubelet's failSwapOn is not false: "
		 "kubelet will refuse to start; set failSwapOn: false and "
		 "memorySwap.swapBehavior: LimitedSwap");
	return true;
}

static bool desktop_oom_daemon(const struct host_facts *f, char *m, size_t n)
{
	if (!f->desktop || f->oom_daemon)
		return false;
	snprintf(m, n, "a desktop without a userspace OOM daemon: with swap the kernel's OOM "
		 "killer acts late and the session freezes first; enable systemd-oomd or earlyoom");
	return true;
}

static bool page_cluster_zram(const struct host_facts *f, char *m, size_t n)
{
	if (!f->zram_swap || f->page_cluster <= 0)
		return false;
	snprintf(m, n, "vm.page-cluster is %d with zram: each fault reads %d pages ahead, each a "
		 "decompression nobody may need; set vm.page-cluster=0", f->page_cluster,
		 1 << f->page_cluster);
	return true;
}

static const struct {
	const char *name;
	bool (*applies)(const struct host_facts *f, char *msg, size_t len);
} rules[] = {
	{ "double_compression", double_compression },
	{ "swappiness_ram_tier", swappiness_ram_tier },
	{ "kubelet_fail_swap_on", kubelet_fail_swap_on },
	{ "desktop_oom_daemon", desktop_oom_daemon },
	{ "page_cluster_zram", page_cluster_zram },
};

int advise(const struct host_facts *f, json_t *out)
{
	char msg[512];
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		if (!rules[i].applies(f, msg, sizeof msg))
			continue;
		json_array_append_new(out, json_pack("{s:s, s:s}", "rule", rules[i].name, "message", msg));
		n++;
	}
	return n;
}
