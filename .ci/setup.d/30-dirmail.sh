# Mailpit, the SMTP server the mail tests deliver to (mail/mailtest), from the
# Go module proxy, pinned.
command -v mailpit >/dev/null 2>&1 || go install github.com/axllent/mailpit@v1.33.1
