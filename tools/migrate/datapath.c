// SPDX-License-Identifier: GPL-2.0
/* What both data paths share (datapath.h). */
#include <stdio.h>

#include "datapath.h"

void km_dp_note_harvest(struct km_datapath *dp, const struct vmm_harvest_stats *st)
{
	const char *why;

	if (!st->overflows)
		return;
	dp->full_passes++;
	why = vmm_dirty_overflow_reason(dp->env.vm);
	snprintf(dp->full_why, sizeof(dp->full_why), "dirty ring overflow: %s",
		 *why ? why : "entries may be lost");
}
