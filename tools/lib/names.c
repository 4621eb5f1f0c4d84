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

static const char *const km_event_names[] = {
	[KMIGRATE_EVENT_UNSPEC]		= NULL,
	[KMIGRATE_EVENT_SESSION_START]	= "session-start",
	[KMIGRATE_EVENT_ROUND]		= "round",
	[KMIGRATE_EVENT_SESSION_END]	= "session-end",
	[KMIGRATE_EVENT_SESSION_ERROR]	= "session-error",
	[KMIGRATE_EVENT_BANDWIDTH]	= "bandwidth",
};

_Static_assert(sizeof(km_event_names) / sizeof(km_event_names[0]) ==
	       __KMIGRATE_EVENT_MAX,
	       "every event needs a name");

const char *km_event_name(uint32_t event)
{
	if (event > KMIGRATE_EVENT_MAX)
		return NULL;
	return km_event_names[event];
}
