# tests/servers: keygate behind real Apache (mod_authnz_fcgi, mod_fcgid),
# lighttpd and nginx, configured from contrib/, plus the demo; keygate-api
# behind each of them (api.sh); a real Prometheus scraping keygate-api's
# GET /metrics through nginx (prometheus.sh); keygate inside Apache and
# nginx as a module (apache-module.sh, nginx-module.sh).
TESTS += \
	tests/servers/apache-authnz.sh \
	tests/servers/apache-fcgid.sh \
	tests/servers/lighttpd.sh \
	tests/servers/nginx.sh \
	tests/servers/api.sh \
	tests/servers/prometheus.sh \
	tests/servers/demo.sh \
	tests/servers/churn.sh \
	tests/servers/apache-module.sh \
	tests/servers/nginx-module.sh
EXTRA_DIST += \
	tests/servers/lib.sh \
	tests/servers/echo-backend.py \
	tests/servers/fcgi-echo.py \
	tests/servers/apache-authnz.sh \
	tests/servers/apache-fcgid.sh \
	tests/servers/lighttpd.sh \
	tests/servers/nginx.sh \
	tests/servers/demo.sh \
	tests/servers/churn.sh \
	tests/servers/api.sh \
	tests/servers/prometheus.sh \
	tests/servers/apache-module.sh \
	tests/servers/nginx-module.sh
