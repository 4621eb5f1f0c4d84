/* SPDX-License-Identifier: GPL-2.0 */
/* Names of ABI values, as the CLI prints them. */
#ifndef KM_NAMES_H
#define KM_NAMES_H

#include <stdint.h>

/* "idle", "attached", ...; NULL for a state this tool does not know. */
const char *km_state_name(uint32_t state);

/* "session-start", "round", ...; NULL for an event this tool does not know. */
const char *km_event_name(uint32_t event);

#endif /* KM_NAMES_H */
