# pgbisync --on-failure on Windows: mails the failure report (on stdin) to IT through the firm's
# SMTP relay. Mails the first failed pass, then one an hour while it goes on failing. Set
# PGBISYNC_ALERT_TO, PGBISYNC_SMTP_HOST and PGBISYNC_ALERT_FROM in C:\pgbisync\.env or the
# machine's environment.
$n = [int]($env:PGBISYNC_CONSECUTIVE_FAILURES)
if ($n -gt 1 -and (($n - 1) % 12) -ne 0) { exit 0 }
$body = [Console]::In.ReadToEnd()
Send-MailMessage -SmtpServer $env:PGBISYNC_SMTP_HOST -From $env:PGBISYNC_ALERT_FROM -To $env:PGBISYNC_ALERT_TO `
  -Subject "pgbisync on $env:COMPUTERNAME: $env:PGBISYNC_SUMMARY" -Body $body
