// SPDX-License-Identifier: GPL-2.0
/* kmigrate limits: show or set the host-wide migration limits. */
#include <linux/kmigrate.h>

#include "cli.h"
#include "cmds.h"
#include "genl.h"
#include "jsonout.h"
#include "ops.h"
#include "rate.h"
#include "show.h"

static const struct option limits_longopts[] = {
	{ "max-sessions", required_argument, NULL, 'm' },
	{ "bandwidth", required_argument, NULL, 'b' },
	{ "reset", no_argument, NULL, 'r' },
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage limits_usage = {
	.options =
	"  -m, --max-sessions N   allow N migration sessions at once (1-256)\n"
	"  -b, --bandwidth RATE   bandwidth cap given to new sessions, in bytes/s:\n"
	"                         e.g. 500M, 1.5GiB/s, 10gbit; 0 or 'unlimited': none\n"
	"  -r, --reset            restore the limits not given to their defaults\n",
	.notes = "Without options, shows the limits; changing them needs CAP_NET_ADMIN.\n",
};

/* Parses the options into @cfg; returns KM_OPT_END or a KM_OPT_EXIT_* value. */
static int limits_parse(int argc, char **argv, struct km_config *cfg)
{
	char why[256];
	int c;

	while ((c = km_getopt(argc, argv, "m:b:r", limits_longopts,
			      &limits_usage)) != KM_OPT_END) {
		switch (c) {
		case 'm':
			if (km_parse_u32(optarg, 1, KMIGRATE_MAX_SESSIONS_LIMIT,
					 &cfg->max_sessions, why, sizeof(why))) {
				km_usage_error("invalid --max-sessions: %s", why);
				return KM_OPT_EXIT_USAGE;
			}
			cfg->have |= KM_BIT(KMIGRATE_A_MAX_SESSIONS);
			break;
		case 'b':
			if (km_rate_parse(optarg, &cfg->default_bandwidth,
					  why, sizeof(why))) {
				km_usage_error("invalid --bandwidth: %s", why);
				return KM_OPT_EXIT_USAGE;
			}
			cfg->have |= KM_BIT(KMIGRATE_A_DEFAULT_BANDWIDTH);
			break;
		case 'r':
			cfg->flags |= KMIGRATE_CONFIG_F_RESET;
			cfg->have |= KM_BIT(KMIGRATE_A_FLAGS);
			break;
		default:
			return c;
		}
	}
	return km_no_args(argc, argv) ? KM_OPT_EXIT_USAGE : KM_OPT_END;
}

static int limits_output(const struct km_info *info)
{
	if (km_opts.json)
		return km_json_print(km_json_limits(info), stdout);
	km_show_limits(stdout, info);
	return KM_EXIT_OK;
}

/* Sets @cfg, then reads the limits back into @info. */
static int limits_set(struct km_genl *g, const struct km_config *cfg,
		      struct km_info *info, const char **what)
{
	int ret;

	*what = "setting limits";
	ret = km_set_config(g, cfg);
	if (ret)
		return ret;
	*what = "reading the new limits";
	return km_get_info(g, KM_INFO_ALL, info);
}

int limits_main(int argc, char **argv)
{
	struct km_config cfg = { 0 };
	struct km_info info;
	struct km_genl g;
	const char *what = "reading limits";
	int ret;

	ret = limits_parse(argc, argv, &cfg);
	if (ret != KM_OPT_END)
		return km_opt_exit(ret);

	if (km_genl_open(&g))
		return km_error_report(&g.err, "connecting to the kernel module");
	ret = km_get_info(&g, KM_INFO_ALL, &info);
	if (!ret && cfg.have) {
		if (!km_check_versions(&info)) {
			km_genl_close(&g);
			km_err("setting limits: refused, the module's ABI differs from this tool's");
			return KM_EXIT_FAIL;
		}
		ret = limits_set(&g, &cfg, &info, &what);
	}
	km_genl_close(&g);
	if (ret)
		return km_error_report(&g.err, what);
	return limits_output(&info);
}
