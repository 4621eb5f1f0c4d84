// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/genetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "msg.h"

enum km_attr_kind {
	KM_ATTR_UNKNOWN,	/* not used by this tool (or padding): skipped */
	KM_ATTR_U32,
	KM_ATTR_U64,
	KM_ATTR_STRING,		/* NUL-terminated, printable, at most maxlen */
	KM_ATTR_NEST,
};

struct km_attr_spec {
	const char *name;
	enum km_attr_kind kind;
	size_t maxlen;		/* strings: buffer size, NUL included */
};

static const struct km_attr_spec km_attrs[KMIGRATE_A_MAX + 1] = {
	[KMIGRATE_A_MODULE_VERSION]	= { "module version", KM_ATTR_STRING, KM_VERSION_LEN },
	[KMIGRATE_A_ABI_VERSION]	= { "ABI version", KM_ATTR_U32, 0 },
	[KMIGRATE_A_GENL_VERSION]	= { "genl version", KM_ATTR_U32, 0 },
	[KMIGRATE_A_FEATURES]		= { "features", KM_ATTR_U64, 0 },
	[KMIGRATE_A_SESSION_COUNT]	= { "session count", KM_ATTR_U32, 0 },
	[KMIGRATE_A_MAX_SESSIONS]	= { "max sessions", KM_ATTR_U32, 0 },
	[KMIGRATE_A_DEFAULT_BANDWIDTH]	= { "default bandwidth", KM_ATTR_U64, 0 },
	[KMIGRATE_A_FLAGS]		= { "flags", KM_ATTR_U32, 0 },
	[KMIGRATE_A_SESSION]		= { "session", KM_ATTR_NEST, 0 },
};

static const struct km_attr_spec km_session_attrs[KMIGRATE_SESSION_A_MAX + 1] = {
	[KMIGRATE_SESSION_A_ID]		= { "session id", KM_ATTR_U32, 0 },
	[KMIGRATE_SESSION_A_OWNER_PID]	= { "session owner pid", KM_ATTR_U32, 0 },
	[KMIGRATE_SESSION_A_STATE]	= { "session state", KM_ATTR_U32, 0 },
	[KMIGRATE_SESSION_A_BANDWIDTH]	= { "session bandwidth", KM_ATTR_U64, 0 },
};

_Static_assert(KMIGRATE_A_MAX < 32 && KMIGRATE_SESSION_A_MAX < 32,
	       "attribute masks are 32 bits wide");

#define KM_SESSION_ALL	(KM_BIT(KMIGRATE_SESSION_A_ID) | \
			 KM_BIT(KMIGRATE_SESSION_A_OWNER_PID) | \
			 KM_BIT(KMIGRATE_SESSION_A_STATE) | \
			 KM_BIT(KMIGRATE_SESSION_A_BANDWIDTH))

/* A set of attributes of one kind, as parsed from a message or a nest. */
struct km_attr_set {
	const char *where;			/* for messages: "module info reply" */
	const struct km_attr_spec *spec;
	int maxtype;
	const struct nlattr **tb;		/* maxtype + 1 entries */
};

/* Fails with "NAME (attribute TYPE) in the WHERE PROBLEM". */
__attribute__((format(printf, 4, 5)))
static int km_bad(struct km_error *err, const struct km_attr_set *set, int type,
		  const char *problem, ...)
{
	char text[128];
	va_list ap;

	va_start(ap, problem);
	vsnprintf(text, sizeof(text), problem, ap);
	va_end(ap);
	return km_error_set(err, EBADMSG, "%s (attribute %d) in the %s %s",
			    set->spec[type].name, type, set->where, text);
}

static int km_attr_check_string(const struct nlattr *nla, size_t maxlen,
				const struct km_attr_set *set, int type,
				struct km_error *err)
{
	const char *s = nla_data(nla);
	size_t len = (size_t)nla_len(nla);
	size_t n = strnlen(s, len), i;

	if (n == len)
		return km_bad(err, set, type, "is not NUL-terminated");
	if (n >= maxlen)
		return km_bad(err, set, type, "is longer than %zu bytes", maxlen - 1);
	for (i = 0; i < n; i++)
		if (!isprint((unsigned char)s[i]))
			return km_bad(err, set, type, "has unprintable characters");
	return 0;
}

/* Checks the size (and form) of attribute @nla of a known @type. */
static int km_attr_check(const struct nlattr *nla, const struct km_attr_set *set,
			 int type, struct km_error *err)
{
	const struct km_attr_spec *spec = &set->spec[type];
	int len = nla_len(nla), want;

	switch (spec->kind) {
	case KM_ATTR_U32:
		want = sizeof(uint32_t);
		break;
	case KM_ATTR_U64:
		want = sizeof(uint64_t);
		break;
	case KM_ATTR_STRING:
		return km_attr_check_string(nla, spec->maxlen, set, type, err);
	default:
		return 0;
	}
	if (len != want)
		return km_bad(err, set, type, "is %d bytes long, not %d", len, want);
	return 0;
}

/*
 * Fills set->tb from the attributes at @head (@len bytes), checking each
 * known one, then that every attribute of @required is there.
 */
static int km_attrs_parse(const struct km_attr_set *set, const struct nlattr *head,
			  int len, uint32_t required, struct km_error *err)
{
	const struct nlattr *nla;
	int rem, type, ret;

	memset(set->tb, 0, sizeof(*set->tb) * (size_t)(set->maxtype + 1));
	nla_for_each_attr(nla, head, len, rem) {
		type = nla_type(nla);
		if (type > set->maxtype || set->spec[type].kind == KM_ATTR_UNKNOWN)
			continue;	/* padding, or from a newer module */
		if (set->tb[type])
			return km_bad(err, set, type, "appears twice");
		ret = km_attr_check(nla, set, type, err);
		if (ret)
			return ret;
		set->tb[type] = nla;
	}
	if (rem > 0)
		return km_error_set(err, EBADMSG,
				    "the %s ends with %d bytes of a truncated attribute",
				    set->where, rem);
	for (type = 1; type <= set->maxtype; type++)
		if ((required & KM_BIT(type)) && !set->tb[type])
			return km_bad(err, set, type, "is missing");
	return 0;
}

/* Parses the top-level attributes of a kmigrate genl message. */
static int km_genl_parse(const struct nlmsghdr *nlh, const struct km_attr_set *set,
			 uint32_t required, struct km_error *err)
{
	const size_t hdrlen = NLMSG_HDRLEN + GENL_HDRLEN;

	if (nlh->nlmsg_len < hdrlen)
		return km_error_set(err, EBADMSG,
				    "the %s is too short for a genl header (%u bytes)",
				    set->where, nlh->nlmsg_len);
	return km_attrs_parse(set, (const struct nlattr *)((const char *)nlh + hdrlen),
			      (int)(nlh->nlmsg_len - hdrlen), required, err);
}

static uint32_t km_u32(const struct nlattr *nla)
{
	return nla ? nla_get_u32(nla) : 0;
}

static uint64_t km_u64(const struct nlattr *nla)
{
	return nla ? nla_get_u64(nla) : 0;
}

int km_info_parse(const struct nlmsghdr *nlh, uint32_t required,
		  struct km_info *info, struct km_error *err)
{
	const struct nlattr *tb[KMIGRATE_A_MAX + 1];
	const struct km_attr_set set = {
		"module info reply", km_attrs, KMIGRATE_A_MAX, tb,
	};
	int type, ret;

	ret = km_genl_parse(nlh, &set, required, err);
	if (ret)
		return ret;
	memset(info, 0, sizeof(*info));
	for (type = 1; type <= KMIGRATE_A_MAX; type++)
		if (tb[type])
			info->have |= KM_BIT(type);
	if (tb[KMIGRATE_A_MODULE_VERSION])
		snprintf(info->module_version, sizeof(info->module_version), "%s",
			 (const char *)nla_data(tb[KMIGRATE_A_MODULE_VERSION]));
	info->abi_version = km_u32(tb[KMIGRATE_A_ABI_VERSION]);
	info->genl_version = km_u32(tb[KMIGRATE_A_GENL_VERSION]);
	info->features = km_u64(tb[KMIGRATE_A_FEATURES]);
	info->session_count = km_u32(tb[KMIGRATE_A_SESSION_COUNT]);
	info->max_sessions = km_u32(tb[KMIGRATE_A_MAX_SESSIONS]);
	info->default_bandwidth = km_u64(tb[KMIGRATE_A_DEFAULT_BANDWIDTH]);
	return 0;
}

int km_session_parse(const struct nlmsghdr *nlh, struct km_session *s,
		     struct km_error *err)
{
	const struct nlattr *tb[KMIGRATE_A_MAX + 1];
	const struct nlattr *stb[KMIGRATE_SESSION_A_MAX + 1];
	const struct km_attr_set set = {
		"session list reply", km_attrs, KMIGRATE_A_MAX, tb,
	};
	const struct km_attr_set nest = {
		"session", km_session_attrs, KMIGRATE_SESSION_A_MAX, stb,
	};
	const struct nlattr *n;
	int ret;

	ret = km_genl_parse(nlh, &set, KM_BIT(KMIGRATE_A_SESSION), err);
	if (ret)
		return ret;
	n = tb[KMIGRATE_A_SESSION];
	ret = km_attrs_parse(&nest, nla_data(n), nla_len(n), KM_SESSION_ALL, err);
	if (ret)
		return ret;
	s->id = nla_get_u32(stb[KMIGRATE_SESSION_A_ID]);
	s->owner_pid = nla_get_u32(stb[KMIGRATE_SESSION_A_OWNER_PID]);
	s->state = nla_get_u32(stb[KMIGRATE_SESSION_A_STATE]);
	s->bandwidth = nla_get_u64(stb[KMIGRATE_SESSION_A_BANDWIDTH]);
	return 0;
}

int km_sessions_add(struct km_sessions *list, const struct km_session *s)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		struct km_session *v = reallocarray(list->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		list->v = v;
		list->cap = cap;
	}
	list->v[list->n++] = *s;
	return 0;
}

static int km_session_cmp(const void *a, const void *b)
{
	const struct km_session *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

void km_sessions_sort(struct km_sessions *list)
{
	if (list->n)
		qsort(list->v, list->n, sizeof(*list->v), km_session_cmp);
}

void km_sessions_free(struct km_sessions *list)
{
	free(list->v);
	*list = (struct km_sessions){ 0 };
}

int km_config_put(struct nl_msg *msg, const struct km_config *cfg)
{
	int ret = 0;

	if (cfg->have & KM_BIT(KMIGRATE_A_MAX_SESSIONS))
		ret = nla_put_u32(msg, KMIGRATE_A_MAX_SESSIONS, cfg->max_sessions);
	if (!ret && (cfg->have & KM_BIT(KMIGRATE_A_DEFAULT_BANDWIDTH)))
		ret = nla_put_u64(msg, KMIGRATE_A_DEFAULT_BANDWIDTH,
				  cfg->default_bandwidth);
	if (!ret && (cfg->have & KM_BIT(KMIGRATE_A_FLAGS)))
		ret = nla_put_u32(msg, KMIGRATE_A_FLAGS, cfg->flags);
	return ret ? -EMSGSIZE : 0;
}

/* Copies a string attribute into @buf, unprintable characters as '?'. */
static void km_copy_printable(char *buf, size_t size, const struct nlattr *nla)
{
	const char *s = nla_data(nla);
	size_t i, n = strnlen(s, (size_t)nla_len(nla));

	if (n >= size)
		n = size - 1;
	for (i = 0; i < n; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[n] = '\0';
}

/* Reads the extended ack attributes that follow @hlen bytes of payload. */
static void km_extack(const struct nlmsghdr *nlh, size_t hlen,
		      struct km_error *err)
{
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(hlen);
	const struct nlattr *nla;
	int rem;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || off >= nlh->nlmsg_len)
		return;
	nla_for_each_attr(nla, (const struct nlattr *)((const char *)nlh + off),
			  (int)(nlh->nlmsg_len - off), rem) {
		switch (nla_type(nla)) {
		case NLMSGERR_ATTR_MSG:
			km_copy_printable(err->detail, sizeof(err->detail), nla);
			return;
		case NLMSGERR_ATTR_MISS_TYPE:
			if (nla_len(nla) == sizeof(uint32_t))
				snprintf(err->detail, sizeof(err->detail),
					 "attribute %u is missing", nla_get_u32(nla));
			break;
		}
	}
}

int km_nlmsg_status(const struct nlmsghdr *nlh, struct km_error *err)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);
	size_t hlen;
	int error;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return km_error_set(err, EBADMSG, "truncated netlink error message");
		error = e->error;
		hlen = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len > NLMSG_HDRLEN)
			hlen += e->msg.nlmsg_len - NLMSG_HDRLEN;
	} else if (nlh->nlmsg_type == NLMSG_DONE &&
		   nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
		memcpy(&error, NLMSG_DATA(nlh), sizeof(error));
		hlen = sizeof(error);
	} else {
		return 0;
	}
	if (error >= 0)
		return 0;
	km_error_set(err, -error, NULL);
	km_extack(nlh, hlen, err);
	return error;
}
