// SPDX-License-Identifier: GPL-2.0
#include <stddef.h>

#include <linux/kmigrate.h>

#include "names.h"

static const char *const km_state_names[] = {
	[KMIGRATE_SESSION_IDLE]		= "idle",
	[KMIGRATE_SESSION_ATTACHED]	= "attached",
	[KMIGRATE_SESSION_RUNNING]	= "running",
	[KMIGRATE_SESSION_DONE]		= "done",
	[KMIGRATE_SESSION_FAILED]	= "failed",
};

_Static_assert(sizeof(km_state_names) / sizeof(km_state_names[0]) ==
	       __KMIGRATE_SESSION_STATE_MAX,
	       "every session state needs a name");

const char *km_state_name(uint32_t state)
{
	if (state > KMIGRATE_SESSION_STATE_MAX)
		return NULL;
	return km_state_names[state];
}
