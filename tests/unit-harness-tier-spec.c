/* Unit tests for harness/tier-spec.c and the stack rules in tier.c: what
 * `run --tiers` accepts (tiers, options, stacks, labels) and each reason a
 * stack is refused, in the order the rules are checked. */
#include <string.h>

#include "tier-spec.h"
#include "unit.h"

static struct tier_spec ts;
static char err[1200];

/* SPEC parses, with label LABEL and N levels. */
static int ok(const char *spec, const char *label, unsigned n)
{
	err[0] = '\0';
	if (tier_spec_parse(&ts, spec, err, sizeof err) < 0) {
		fprintf(stderr, "'%s': %s\n", spec, err);
		return 0;
	}
	return !strcmp(ts.label, label) && ts.nlevel == n;
}

/* SPEC is refused, the message holding SAYS. */
static int refused(const char *spec, const char *says)
{
	err[0] = '\0';
	if (tier_spec_parse(&ts, spec, err, sizeof err) == 0)
		return 0;
	if (!strstr(err, says)) {
		fprintf(stderr, "'%s': expected '%s' in: %s\n", spec, says, err);
		return 0;
	}
	return 1;
}

int main(void)
{
	/* Tiers, as before stacks. */
	CHECK(ok("zram", "zram", 1));
	CHECK(ok("nbd:backend=vram", "nbd-vram", 1));
	CHECK(ok("nbd:backend=vram:threads=4", "nbd-vram-4", 1));
	CHECK(ok("nbd:vramd=/opt/v/vramd:as=old", "old", 1));
	CHECK(tier_spec_opt(&ts, 0, "vramd") && !strcmp(tier_spec_opt(&ts, 0, "vramd"), "/opt/v/vramd"));
	CHECK(!tier_spec_opt(&ts, 0, "as"));	/* a label, no option */
	CHECK(refused("nbd:vramd=/opt/v/vramd", "unfit for file names"));
	CHECK(refused("zrm", "unknown tier 'zrm'"));
	CHECK(refused("zram:algo=lz4", "tier 'zram' has no option 'algo'"));
	CHECK(refused("zram:algorithm", "expected KEY=VALUE"));
	CHECK(refused("zram:as=a:as=b", "'as' given twice"));
	CHECK(refused("zram:as=-x", "a label is"));
	CHECK(refused("zram:as=a+b", "a label is"));

	/* Stacks: highest priority first, labels joined by '+'. */
	CHECK(ok("zram>disk", "zram+disk", 2));
	CHECK(ts.lv[0].ops == &tier_zram && ts.lv[1].ops == &tier_disk);
	CHECK(!tier_spec_frontswap(&ts));
	CHECK(ok("zram:algorithm=lz4>nbd:backend=vram", "zram-lz4+nbd-vram", 2));
	CHECK(tier_spec_opt(&ts, 0, "algorithm") && !tier_spec_opt(&ts, 1, "algorithm"));
	CHECK(tier_spec_opt(&ts, 1, "backend") && !strcmp(tier_spec_opt(&ts, 1, "backend"), "vram"));
	CHECK(ok("zswap>nbd:backend=ram", "zswap+nbd-ram", 2));
	CHECK(tier_spec_frontswap(&ts));
	CHECK(ok("zram>nbd:backend=ram>disk", "zram+nbd-ram+disk", 3));
	CHECK(ok("zram>disk:as=waterfall", "waterfall", 2));
	CHECK(ok("zram:as=w>disk", "w", 2));
	CHECK(refused("zram:as=a>disk:as=b", "'as' given twice"));
	CHECK(refused("zram>", "expected TIER or a stack"));
	CHECK(refused(">zram", "expected TIER or a stack"));
	CHECK(refused("zram>>disk", "expected TIER or a stack"));
	CHECK(refused("zram>dsk", "unknown tier 'dsk'"));
	CHECK(refused("zram>disk:bogus=1", "tier 'disk' has no option 'bogus'"));

	/* The stack rules, each on its own and first-broken-first. */
	CHECK(refused("zram>nbd>disk>zswap", "at most 3 levels"));
	CHECK(refused("zram>none", "is no swap at all"));
	CHECK(refused("none>disk", "is no swap at all"));
	CHECK(refused("zram>zram", "tier 'zram' twice"));
	CHECK(refused("disk>zswap", "can only be the top level ('zswap>disk', not 'disk>zswap')"));
	CHECK(refused("zram>zswap", "can only be the top level"));
	CHECK(refused("zswap>zram", "compresses every page twice"));
	CHECK(refused("zswap>disk>zram", "compresses every page twice"));
	CHECK(ok("none", "none", 1));	/* alone, the baseline is fine */
	{
		const struct tier_ops *three[] = { &tier_zram, &tier_zram, &tier_none };
		char why[256];

		/* Both the baseline's rule and "twice" apply: the baseline's,
		 * earlier in stack_rules, is the reason given. */
		CHECK(tier_stack_refusal(three, 3, why, sizeof why) && strstr(why, "no swap at all"));
		CHECK(!tier_stack_refusal(three, 1, why, sizeof why));
	}
	/* Sweeps: parsing, expansion into labelled variants, refusals. */
	{
		struct tier_spec list[8];
		struct sweep sw;
		unsigned n = 2;

		CHECK(sweep_parse(&sw, "vm.swappiness=60,100,180", err, sizeof err) == 0 && sw.n == 3);
		CHECK(sweep_numeric(&sw) && !strcmp(sweep_factor_name(&sw), "vm.swappiness"));
		CHECK(tier_spec_parse(&list[0], "zram", err, sizeof err) == 0);
		CHECK(tier_spec_parse(&list[1], "zram>disk", err, sizeof err) == 0);
		CHECK(sweep_expand(&sw, list, &n, 8, err, sizeof err) == 0 && n == 6);
		CHECK(!strcmp(list[0].label, "zram_swappiness60") && !strcmp(list[2].label, "zram_swappiness180"));
		CHECK(!strcmp(list[3].label, "zram+disk_swappiness60") && !strcmp(list[3].base_label, "zram+disk"));
		CHECK(!strcmp(list[4].factor_value, "100") && list[4].throttle == -1);
		/* A system-wide knob goes to every level. */
		CHECK(tier_spec_opt(&list[4], 0, "swappiness") && tier_spec_opt(&list[4], 1, "swappiness") &&
		      !strcmp(tier_spec_opt(&list[4], 1, "swappiness"), "100"));
		n = 3;	/* 3 x 3 > 8 */
		CHECK(sweep_expand(&sw, list, &n, 8, err, sizeof err) < 0 && strstr(err, "over 8") && n == 3);

		CHECK(sweep_parse(&sw, "zram.comp_algorithm=lz4,zstd", err, sizeof err) == 0 && !sweep_numeric(&sw));
		CHECK(tier_spec_parse(&list[0], "zram>disk", err, sizeof err) == 0);
		CHECK(tier_spec_parse(&list[1], "disk", err, sizeof err) == 0);
		n = 1;
		CHECK(sweep_expand(&sw, list, &n, 8, err, sizeof err) == 0 && n == 2);
		CHECK(!strcmp(list[1].label, "zram+disk_zstd"));
		CHECK(tier_spec_opt(&list[1], 0, "algorithm") && !tier_spec_opt(&list[1], 1, "algorithm"));
		CHECK(tier_spec_parse(&list[0], "disk", err, sizeof err) == 0);
		n = 1;
		CHECK(sweep_expand(&sw, list, &n, 8, err, sizeof err) < 0 && strstr(err, "has no zram level"));
		CHECK(tier_spec_parse(&list[0], "zram:algorithm=lzo", err, sizeof err) == 0);
		n = 1;
		CHECK(sweep_expand(&sw, list, &n, 8, err, sizeof err) < 0 && strstr(err, "sets algorithm itself"));

		CHECK(sweep_parse(&sw, "memcg.mode=max,high", err, sizeof err) == 0);
		CHECK(tier_spec_parse(&list[0], "zram", err, sizeof err) == 0);
		n = 1;
		CHECK(sweep_expand(&sw, list, &n, 8, err, sizeof err) == 0 && n == 2);
		CHECK(list[0].throttle == 0 && list[1].throttle == 1 && !strcmp(list[1].label, "zram_memcghigh"));

		CHECK(sweep_parse(&sw, "zram.comp_algorithm=all", err, sizeof err) == 0 && sw.n == 1);
		CHECK(sweep_parse(&sw, "vm.swappiness=all", err, sizeof err) < 0);
		CHECK(sweep_parse(&sw, "vm.swappiness=60", err, sizeof err) < 0 && strstr(err, "two values"));
		CHECK(sweep_parse(&sw, "vm.swappiness=60,201", err, sizeof err) < 0 && strstr(err, "0 to 200"));
		CHECK(sweep_parse(&sw, "vm.swappiness=60,60", err, sizeof err) < 0 && strstr(err, "twice"));
		CHECK(sweep_parse(&sw, "vm.swapiness=1,2", err, sizeof err) < 0 && strstr(err, "unknown factor"));
		CHECK(sweep_parse(&sw, "memcg.mode=max,low", err, sizeof err) < 0 && strstr(err, "max or high"));
		CHECK(sweep_parse(&sw, "zram.comp_algorithm=lz4,a/b", err, sizeof err) < 0 && strstr(err, "no name"));
		CHECK(sweep_parse(&sw, "vm.swappiness", err, sizeof err) < 0 && strstr(err, "FACTOR=V1,V2"));
		CHECK(sweep_parse(&sw, "vm.swappiness=1,2,3,4,5,6,7,8,9", err, sizeof err) < 0 && strstr(err, "at most 8"));
	}
	UNIT_DONE();
}
