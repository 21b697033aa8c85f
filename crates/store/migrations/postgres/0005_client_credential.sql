-- An identity connection authenticates at the token endpoint with a client
-- secret or with a certificate and its private key. The column keeps the
-- confidential part as JSON: {"kind":"secret","secret":...} or
-- {"kind":"certificate","certificate":PEM,"private_key":PEM}.
ALTER TABLE identity_connections RENAME COLUMN client_secret TO client_credential;
UPDATE identity_connections
SET client_credential = json_build_object('kind', 'secret', 'secret', client_credential)::text;
