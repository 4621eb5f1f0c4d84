// SPDX-License-Identifier: GPL-2.0
/* The switch-over's measured costs (switch_cost.h explains them). */
#include <string.h>

#include "switch_cost.h"

#define MS	1000000ull

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void kms_costs_estimate(struct kms_costs *k, unsigned int vcpus)
{
	/* the nested lab's quiet figures (docs/BENCH.md): a pause of ~1 ms,
	 * a save of ~1 ms a vCPU, ~8 KiB of state a vCPU and 16 KiB for the VM */
	memset(k, 0, sizeof(*k));
	k->pause_ns = MS;
	k->harvest_ns = MS;
	k->save_ns = MS * (vcpus + 1);
	k->state_bytes = 8192ull * vcpus + 16384;
	k->load_ns = k->save_ns;
	k->resume_ns = MS;
	k->rtt_ns = MS;
	k->stop_delay_ns = 20 * MS;	/* source_switch.c sleeps so long */
}

void kms_costs_apply(const struct kms_costs *k, struct kmc_config *c)
{
	uint64_t h = add_sat(add_sat(k->pause_ns, k->harvest_ns), k->save_ns);

	c->state_bytes = k->state_bytes;
	c->handoff_ns = add_sat(add_sat(h, k->load_ns), k->resume_ns);
	c->rtt_ns = add_sat(k->rtt_ns, k->rtt_ns / 2);
	c->stop_delay_ns = k->stop_delay_ns;
	c->margin_pct = KMS_MARGIN_PCT;
	c->margin_min_ns = KMS_MARGIN_MIN_NS;
}

uint64_t kms_floor_ns(const struct kmc_state *s, const struct kmc_config *c, uint64_t rate)
{
	return kmc_predict_ns(s, c, 0, rate);
}

uint64_t kms_limit_for_ns(const struct kmc_config *c, uint64_t pause_ns)
{
	uint32_t pct = c->margin_pct >= 100 ? 99 : c->margin_pct;
	uint64_t a, b;

	if (pause_ns == UINT64_MAX)
		return UINT64_MAX;
	/* budget(L) = L - max(L * pct / 100, margin_min) >= pause */
	a = (pause_ns * 100 + (99 - pct)) / (100 - pct);
	b = add_sat(pause_ns, c->margin_min_ns);
	a = a > b ? a : b;
	return (a + MS - 1) / MS * MS;
}
