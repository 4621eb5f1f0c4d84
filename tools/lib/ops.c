// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>

#include <netlink/msg.h>

#include "ops.h"

struct km_info_reply {
	uint32_t required;
	struct km_info *info;
	bool seen;
};

static int km_info_cb(const struct nlmsghdr *nlh, void *arg, struct km_error *err)
{
	struct km_info_reply *r = arg;

	if (r->seen)
		return km_error_set(err, EBADMSG, "more than one module info reply");
	r->seen = true;
	return km_info_parse(nlh, r->required, r->info, err);
}

int km_get_info(struct km_genl *g, uint32_t required, struct km_info *info)
{
	struct km_info_reply r = { required, info, false };
	struct nl_msg *msg = km_genl_msg(g, KMIGRATE_CMD_GET_INFO, 0);
	int ret;

	if (!msg)
		return -ENOMEM;
	ret = km_genl_exchange(g, msg, km_info_cb, &r);
	if (!ret && !r.seen)
		ret = km_error_set(&g->err, EBADMSG, "the module sent no info reply");
	return ret;
}

static int km_session_cb(const struct nlmsghdr *nlh, void *arg, struct km_error *err)
{
	struct km_sessions *list = arg;
	struct km_session s;
	int ret;

	ret = km_session_parse(nlh, &s, err);
	if (ret)
		return ret;
	if (km_sessions_add(list, &s))
		return km_error_set(err, ENOMEM, "storing the session list");
	return 0;
}

/* A dump the module flags as interrupted (the sessions changed) is redone. */
#define KM_DUMP_TRIES	3

int km_get_sessions(struct km_genl *g, struct km_sessions *list)
{
	size_t first = list->n;
	struct nl_msg *msg;
	int ret = -EAGAIN, tries;

	for (tries = 0; ret == -EAGAIN && tries < KM_DUMP_TRIES; tries++) {
		list->n = first;
		msg = km_genl_msg(g, KMIGRATE_CMD_GET_SESSION, NLM_F_DUMP);
		if (!msg)
			return -ENOMEM;
		ret = km_genl_exchange(g, msg, km_session_cb, list);
	}
	if (ret == -EPERM && !g->err.detail[0])
		snprintf(g->err.detail, sizeof(g->err.detail),
			 "the session list needs CAP_NET_ADMIN");
	if (!ret)
		km_sessions_sort(list);
	return ret;
}

int km_set_config(struct km_genl *g, const struct km_config *cfg)
{
	struct nl_msg *msg = km_genl_msg(g, KMIGRATE_CMD_SET_CONFIG, 0);
	int ret;

	if (!msg)
		return -ENOMEM;
	if (km_config_put(msg, cfg)) {
		nlmsg_free(msg);
		return km_error_set(&g->err, EMSGSIZE, "building the request");
	}
	ret = km_genl_exchange(g, msg, NULL, NULL);
	if (ret == -EPERM && !g->err.detail[0])
		snprintf(g->err.detail, sizeof(g->err.detail),
			 "changing limits needs CAP_NET_ADMIN");
	return ret;
}

bool km_check_versions(const struct km_info *info)
{
	bool ok = true;

	if (info->abi_version != KMIGRATE_ABI_VERSION) {
		km_warn("ABI mismatch: this tool was built for ABI %d, the module speaks ABI %u; install matching versions",
			KMIGRATE_ABI_VERSION, info->abi_version);
		ok = false;
	}
	if (info->genl_version != KMIGRATE_GENL_VERSION) {
		km_warn("generic netlink version mismatch: this tool speaks version %d, the module version %u",
			KMIGRATE_GENL_VERSION, info->genl_version);
		ok = false;
	}
	return ok;
}
