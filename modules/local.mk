# modules: keygate inside Apache httpd (mod_keygate) and nginx
# (ngx_http_keygate_module), over gate.h.  Built when configure found
# apxs (apache2-dev) or nginx's sources (nginx-dev); see configure --help.
#
# A shared object needs position-independent code: the library is built a
# second time with -fPIC for them (the programs keep their own build, whose
# calls between keygate's functions need no indirection).  Each module
# exports its module record only (modules/*/exports.map).

EXTRA_DIST += modules/apache/mod_keygate.c modules/apache/exports.map \
	modules/nginx/ngx_http_keygate_module.c modules/nginx/config \
	modules/nginx/exports.map

if BUILD_MODULES
noinst_LIBRARIES += libkeygate-pic.a
libkeygate_pic_a_SOURCES = $(libkeygate_a_SOURCES)
libkeygate_pic_a_CFLAGS = $(AM_CFLAGS) -fPIC
endif

MODULE_LIBS = libkeygate-pic.a $(CRYPTO_LIBS) $(DB_LIBS) -lpthread

if BUILD_APACHE_MODULE
apachemodule_DATA = modules/apache/mod_keygate.so
apachemodsdir = $(sysconfdir)/apache2/mods-available
apachemods_DATA = modules/apache/keygate.load
CLEANFILES += $(apachemodule_DATA) $(apachemods_DATA)

modules/apache/mod_keygate.so: $(srcdir)/modules/apache/mod_keygate.c $(srcdir)/src/gate.h \
    $(srcdir)/modules/apache/exports.map libkeygate-pic.a
	@$(MKDIR_P) modules/apache
	$(AM_V_CCLD)$(CC) $(KG_CFLAGS) -std=gnu11 -Wno-strict-prototypes $(CFLAGS) $(APXS_CFLAGS) \
	    -I$(srcdir)/src -fPIC -shared $(LDFLAGS) -o $@ $(srcdir)/modules/apache/mod_keygate.c \
	    -Wl,--version-script=$(srcdir)/modules/apache/exports.map $(MODULE_LIBS)

modules/apache/keygate.load: Makefile
	@$(MKDIR_P) modules/apache
	$(AM_V_GEN)echo 'LoadModule keygate_module $(apachemoduledir)/mod_keygate.so' > $@
endif

if BUILD_NGINX_MODULE
nginxmodule_DATA = modules/nginx/ngx_http_keygate_module.so
nginxmodsdir = $(datadir)/nginx/modules-available
nginxmods_DATA = modules/nginx/mod-http-keygate.conf
CLEANFILES += $(nginxmodule_DATA) $(nginxmods_DATA)

# nginx's own build, on a copy of nginx-dev's sources (its configure writes
# into the tree), with Debian's flags: the module's binary interface is
# that of the nginx it loads into.
modules/nginx/ngx_http_keygate_module.so: $(srcdir)/modules/nginx/ngx_http_keygate_module.c \
    $(srcdir)/modules/nginx/config $(srcdir)/modules/nginx/exports.map $(srcdir)/src/gate.h \
    libkeygate-pic.a
	@$(MKDIR_P) modules/nginx
	$(AM_V_GEN)rm -rf nginx-build && cp -R '$(NGINX_SRC)' nginx-build && chmod -R u+w nginx-build && \
	cd nginx-build && \
	KEYGATE_NGX_INCS='$(abs_top_srcdir)/src' \
	KEYGATE_NGX_LIBS='$(abs_top_builddir)/libkeygate-pic.a $(CRYPTO_LIBS) $(DB_LIBS) -lpthread -Wl,--version-script=$(abs_top_srcdir)/modules/nginx/exports.map' \
	./configure $(NGINX_CONF_FLAGS) --add-dynamic-module='$(abs_top_srcdir)/modules/nginx' \
	    > configure.log 2>&1 || { tail -n 20 configure.log; exit 1; }; \
	$(MAKE) -f objs/Makefile modules > make.log 2>&1 || { tail -n 40 make.log; exit 1; }; \
	cp objs/ngx_http_keygate_module.so ../$@

modules/nginx/mod-http-keygate.conf: Makefile
	@$(MKDIR_P) modules/nginx
	$(AM_V_GEN)echo 'load_module $(nginxmoduledir)/ngx_http_keygate_module.so;' > $@
endif

# (unconditional: automake wants clean-local defined in one condition)
clean-local: clean-nginx-build
clean-nginx-build:
	rm -rf nginx-build

# `make bench` measures the modules next to their servers when they are built.
bench-programs: $(apachemodule_DATA) $(nginxmodule_DATA)
