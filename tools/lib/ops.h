/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kmigrate genl commands as calls: each returns 0, or a negative errno
 * with g->err saying why (report it with km_error_report()).
 */
#ifndef KM_OPS_H
#define KM_OPS_H

#include <stdbool.h>

#include "genl.h"
#include "msg.h"

/* KMIGRATE_CMD_GET_INFO; @required: KM_BIT() mask of needed attributes. */
int km_get_info(struct km_genl *g, uint32_t required, struct km_info *info);
/*
 * KMIGRATE_CMD_GET_SESSION dump, appended to @list (sorted by id); redone
 * when the sessions change while it is read.
 */
int km_get_sessions(struct km_genl *g, struct km_sessions *list);
/* KMIGRATE_CMD_SET_CONFIG (needs CAP_NET_ADMIN). */
int km_set_config(struct km_genl *g, const struct km_config *cfg);

/*
 * Warns on stderr when the module's ABI or genl version differs from the
 * ones this tool was built for; returns true when both match.
 */
bool km_check_versions(const struct km_info *info);

#endif /* KM_OPS_H */
