// SPDX-License-Identifier: GPL-2.0
/*
 * The "user" data path (datapath.h): dirty pages from libvmm's dirty ring
 * or bitmap, pages sent with writev() straight from guest RAM (zero-copy
 * PAGES, kmp_enc_pages), all-zero pages as ZERO gfns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapath.h"

#define DPU_ZBUF	(KMP_HDR_SIZE + KMP_MAX_ZERO_BATCH * KMP_GFN_SIZE)
#define DPU_PBUF	(KMP_HDR_SIZE + KMP_MAX_PAGES_BATCH * KMP_GFN_SIZE)

struct dpu {
	uint64_t zgfn[KMP_MAX_ZERO_BATCH];
	uint32_t nz;
	uint64_t pgfn[KMP_MAX_PAGES_BATCH];
	const void *ppage[KMP_MAX_PAGES_BATCH];
	uint32_t np;
	uint8_t zbuf[DPU_ZBUF];
	uint8_t pbuf[DPU_PBUF];
	struct iovec iov[KMP_MAX_PAGES_BATCH + 1];
};

static int dpu_enc_err(struct km_datapath *dp, ssize_t r, const char *what)
{
	snprintf(dp->err, sizeof(dp->err), "encoding %s: %s (%s)", what,
		 kmp_strerror((uint32_t)-r), dp->env.enc->err);
	return -1;
}

static int dpu_init(struct km_datapath *dp)
{
	int r;

	dp->priv = calloc(1, sizeof(struct dpu));
	if (!dp->priv)
		return -ENOMEM;
	r = vmm_dirty_start(dp->env.vm);
	if (r) {
		free(dp->priv);
		dp->priv = NULL;
	}
	return r;
}

static int64_t dpu_harvest(struct km_datapath *dp, struct vmm_dirty_bitmap *set, uint64_t *ns)
{
	struct vmm_harvest_stats hs;
	int64_t r = vmm_dirty_harvest(dp->env.vm, set, NULL, NULL, &hs);

	if (r < 0)
		return r;
	*ns = hs.ns;
	return (int64_t)vmm_dirty_bitmap_count(set);
}

static int dpu_flush_zero(struct km_datapath *dp, struct dpu *u)
{
	ssize_t n;
	uint32_t nz = u->nz;

	if (!nz)
		return 0;
	n = kmp_enc_zero(dp->env.enc, u->zbuf, sizeof(u->zbuf), u->zgfn, nz);
	if (n < 0)
		return dpu_enc_err(dp, n, "ZERO");
	u->nz = 0;
	struct iovec v = { .iov_base = u->zbuf, .iov_len = (size_t)n };

	if (dp->env.writev(dp->env.opaque, &v, 1))
		return -1;
	return dp->env.sent(dp->env.opaque, 0, nz);
}

static int dpu_flush_pages(struct km_datapath *dp, struct dpu *u)
{
	uint32_t np = u->np;
	int n;

	if (!np)
		return 0;
	n = kmp_enc_pages(dp->env.enc, u->pbuf, sizeof(u->pbuf), u->pgfn, u->ppage, np,
			  u->iov, KMP_MAX_PAGES_BATCH + 1);
	if (n < 0)
		return dpu_enc_err(dp, n, "PAGES");
	u->np = 0;
	if (dp->env.writev(dp->env.opaque, u->iov, n))
		return -1;
	return dp->env.sent(dp->env.opaque, np, 0);
}

static bool dpu_page_zero(const void *p)
{
	const uint64_t *q = p;
	unsigned int i;

	for (i = 0; i < KMP_PAGE_SIZE / 8; i += 8)
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] | q[i + 6] | q[i + 7])
			return false;
	return true;
}

static int dpu_send_pages(struct km_datapath *dp, const uint64_t *gfns, uint32_t n)
{
	struct dpu *u = dp->priv;

	for (uint32_t i = 0; i < n; i++) {
		const void *hva = vmm_gpa_to_hva(dp->env.vm, gfns[i] << KMP_PAGE_SHIFT,
						 KMP_PAGE_SIZE);

		if (!hva)
			continue;	/* not RAM (never dirty-logged) */
		if (dpu_page_zero(hva)) {
			u->zgfn[u->nz++] = gfns[i];
			if (u->nz == KMP_MAX_ZERO_BATCH && dpu_flush_zero(dp, u))
				return -1;
			continue;
		}
		u->pgfn[u->np] = gfns[i];
		u->ppage[u->np++] = hva;
		if (u->np == KMP_MAX_PAGES_BATCH && dpu_flush_pages(dp, u))
			return -1;
	}
	return dpu_flush_zero(dp, u) || dpu_flush_pages(dp, u) ? -1 : 0;
}

static void dpu_fini(struct km_datapath *dp)
{
	if (dp->env.vm && vmm_dirty_active(dp->env.vm))
		vmm_dirty_stop(dp->env.vm);
	free(dp->priv);
	dp->priv = NULL;
}

const struct km_datapath_ops km_datapath_user = {
	.name = "user",
	.init = dpu_init,
	.harvest = dpu_harvest,
	.send_pages = dpu_send_pages,
	.fini = dpu_fini,
};
