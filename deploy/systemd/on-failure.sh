#!/bin/sh
# pgbisync --on-failure: mails the failure report (on stdin) to IT. Needs a working `mail`
# (bsd-mailx or s-nail with the firm's SMTP relay). Mails the first failed pass, then one an
# hour while it goes on failing (12 passes at --every 5m), not one every 5 minutes.
# Set PGBISYNC_ALERT_TO in /etc/pgbisync/pgbisync.env.
# No mailer is a failure every pass (never throttled), so the run's log says so each time.
command -v mail >/dev/null 2>&1 || { echo "on-failure.sh: no \`mail\` command: install s-nail (or bsd-mailx) and set up the SMTP relay; this alert is lost" >&2; exit 127; }
n="${PGBISYNC_CONSECUTIVE_FAILURES:-1}"
if [ "$n" -gt 1 ] && [ $(( (n - 1) % 12 )) -ne 0 ]; then
  exit 0
fi
exec mail -s "pgbisync on $(hostname): $PGBISYNC_SUMMARY" "${PGBISYNC_ALERT_TO:?set PGBISYNC_ALERT_TO}"
