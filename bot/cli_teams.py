"""`missing-bot teams package`: the Teams app package to upload (README, Microsoft Teams)."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("teams", help="Microsoft Teams: build the app package to upload")
    teams = p.add_subparsers(dest="teams_command", required=True, metavar="ACTION")
    pkg = teams.add_parser("package", help="write the app package (manifest.json and icons, zipped)")
    pkg.add_argument("-o", "--output", default="missing-bot-teams.zip", metavar="FILE")
    pkg.add_argument("--version", default="1.0.0", help="the app's version (raise it for each upload)")
    pkg.add_argument("--developer", default="", help="the council's name, shown in Teams (32 characters)")
    pkg.add_argument("--website", default="", help="https URL of a page about the bot")
    pkg.add_argument("--privacy", default="", help="https URL of its privacy notice")
    pkg.add_argument("--terms", default="", help="https URL of its terms of use")
    pkg.set_defaults(handler=_package)


def _package(args, settings) -> int:
    from handlers.teams.package import build

    if not settings.teams_client_id:
        print("missing-bot: setting TEAMS_CLIENT_ID is required: the package names the bot by its Microsoft App ID "
              "(see README, Microsoft Teams)", file=sys.stderr)
        return 2
    options = {"client_id": settings.teams_client_id, "version": args.version}
    for name, value in (("developer", args.developer), ("website_url", args.website), ("privacy_url", args.privacy),
                        ("terms_url", args.terms)):
        if value:
            if name != "developer" and not value.startswith("https://"):
                print(f"missing-bot: --{name.split('_')[0]} must be an https URL", file=sys.stderr)
                return 2
            options[name] = value
    data = build(**options)
    with open(args.output, "wb") as f:
        f.write(data)
    print(f"wrote {args.output} ({len(data):,} bytes): upload it in Teams admin centre > Teams apps > Manage apps "
          "> Upload new app")
    if not args.website:
        print("note: the developer links point at www.example.org; give --website, --privacy and --terms for your "
              "council's pages", file=sys.stderr)
    return 0
