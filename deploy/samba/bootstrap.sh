#!/bin/sh
# Provisions the domain on the first start (empty /var/lib/are-samba), then runs samba in the foreground.
#
#   SAMBA_ADMIN_PASSWORD     required: Administrator's password
#   SAMBA_SERVICE_PASSWORD   required: svc-response's password (the engine binds as it)
#   SAMBA_DEMO_PASSWORD      optional: creates the demo user jdoe with it
#   SAMBA_REALM / SAMBA_DOMAIN   default CORP.EXAMPLE / CORP
#   TLS_EXPORT_DIR           where the CA certificate is copied for the engine (tls.caFile); default /tls-export
set -eu

: "${SAMBA_ADMIN_PASSWORD:?SAMBA_ADMIN_PASSWORD must be set}"
: "${SAMBA_SERVICE_PASSWORD:?SAMBA_SERVICE_PASSWORD must be set}"
REALM="${SAMBA_REALM:-CORP.EXAMPLE}"
DOMAIN="${SAMBA_DOMAIN:-CORP}"
DIR=/var/lib/are-samba
TLS="$DIR/tls"
CONF="$DIR/dc/etc/smb.conf"
BASE=$(echo "$REALM" | tr 'A-Z' 'a-z' | sed -e 's/^/DC=/' -e 's/\./,DC=/g')

# Schema GUIDs (MS-ADA1, MS-ADSC): userAccountControl and lockoutTime, on user and computer objects.
UAC=bf967a68-0de6-11d0-a285-00aa003049e2
LOCKOUT=28630ebf-41d5-11d1-a9c1-0000f80367c1
USER=bf967aba-0de6-11d0-a285-00aa003049e2
COMPUTER=bf967a86-0de6-11d0-a285-00aa003049e2

if [ ! -f "$DIR/provisioned" ]; then
  rm -rf "$DIR/dc" "$TLS"
  mkdir -p "$TLS" "$DIR/run"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$TLS/ca.key" -out "$TLS/ca.pem" -subj "/CN=Account response engine demo CA"
  printf 'subjectAltName=DNS:%s,DNS:samba-dc,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
    "$(hostname)" > "$TLS/cert.ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TLS/cert.key" \
    -out "$TLS/cert.csr" -subj "/CN=samba-dc"
  openssl x509 -req -in "$TLS/cert.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
    -out "$TLS/cert.pem" -days 3650 -extfile "$TLS/cert.ext"
  chmod 600 "$TLS/cert.key" "$TLS/ca.key"

  samba-tool domain provision --server-role=dc --dns-backend=NONE \
    --realm="$REALM" --domain="$DOMAIN" --adminpass="$SAMBA_ADMIN_PASSWORD" --targetdir="$DIR/dc" \
    --option="pid directory=$DIR/run" --option="tls enabled=yes" \
    --option="tls certfile=$TLS/cert.pem" --option="tls keyfile=$TLS/cert.key" --option="tls cafile=$TLS/ca.pem"
  LOCAL="-H $DIR/dc/private/sam.ldb -s $CONF"
  # shellcheck disable=SC2086
  samba-tool user create svc-response "$SAMBA_SERVICE_PASSWORD" $LOCAL
  # shellcheck disable=SC2086
  SID=$(samba-tool user show svc-response --attributes=objectSid $LOCAL | sed -n 's/^objectSid: //p')
  ACES=""
  for class in $USER $COMPUTER; do
    for attr in $UAC $LOCKOUT; do ACES="$ACES(OA;CIIO;RPWP;$attr;$class;$SID)"; done
  done
  # shellcheck disable=SC2086
  samba-tool dsacl set $LOCAL --objectdn="$BASE" --sddl="$ACES"
  if [ -n "${SAMBA_DEMO_PASSWORD:-}" ]; then
    # shellcheck disable=SC2086
    samba-tool user create jdoe "$SAMBA_DEMO_PASSWORD" --mail-address="jdoe@$(echo "$REALM" | tr 'A-Z' 'a-z')" $LOCAL
  fi
  touch "$DIR/provisioned"
fi

EXPORT="${TLS_EXPORT_DIR:-/tls-export}"
if [ -d "$EXPORT" ]; then cp "$TLS/ca.pem" "$EXPORT/ca.pem"; fi

# Only the LDAP server: the engine uses nothing else, and the other services need DNS and privileges.
exec samba --foreground --no-process-group --debug-stdout -s "$CONF" --option="server services=ldap"
