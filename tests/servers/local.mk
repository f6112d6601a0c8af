# tests/servers: keygate behind real Apache (mod_authnz_fcgi, mod_fcgid),
# lighttpd and nginx, configured from contrib/, plus the demo.
TESTS += \
	tests/servers/apache-authnz.sh \
	tests/servers/apache-fcgid.sh \
	tests/servers/lighttpd.sh \
	tests/servers/nginx.sh \
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
	tests/servers/apache-module.sh \
	tests/servers/nginx-module.sh
