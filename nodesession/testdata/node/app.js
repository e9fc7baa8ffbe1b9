'use strict';
// A small Node app sharing its sessions with the Go side, for the
// nodesession interop tests and the node-migration example.
//
// Environment:
//   PAIRING      express-cms | express-cm-json | express-cm-obj | koa
//   MONGODB_URI  the server; DB and COLLECTION name the sessions collection
//   SECRETS      JSON array: express-session's secret / Koa's app.keys
//   CRYPTO       (express-cm-*) "webcrypto" or "kruptein", with CRYPTO_SECRET
//                (and for webcrypto optionally CRYPTO_ITERATIONS, CRYPTO_ENCODING)
//   PORT         optional, default 0 (a free port)
// Prints "PORT <n>" on stdout once it listens.
//
// Routes (GET): /login?user=U sets a fixed set of values; /whoami shows the
// session; /set?key=K&json=J sets one value ({"$date": ms} makes a Date);
// /logout destroys the session. Values are shown with Dates as
// {"$date": ms} and other BSON values as {"$bson": type, value: String(v)}
// so that the two sides' views compare exactly.
const util = require('util');
const { ObjectId } = require('mongodb');

const pairing = process.env.PAIRING;
const uri = process.env.MONGODB_URI;
const db = process.env.DB || 'mongosession';
const coll = process.env.COLLECTION || 'sessions';
const secrets = JSON.parse(process.env.SECRETS || '["keyboard cat"]');
const maxAge = 24 * 60 * 60 * 1000;

function revive(k, v) {
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && '$date' in v) {
    return new Date(v.$date);
  }
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && '$oid' in v) {
    return new ObjectId(v.$oid);
  }
  return v;
}

function describe(v) {
  if (v instanceof Date) return { $date: v.getTime() };
  if (Array.isArray(v)) return v.map(describe);
  if (v && typeof v === 'object') {
    if (v._bsontype) return { $bson: v._bsontype, value: String(v) };
    const o = {};
    for (const k of Object.keys(v)) o[k] = describe(v[k]);
    return o;
  }
  return v;
}

function view(sess) {
  const o = {};
  if (!sess) return o;
  for (const k of Object.keys(sess)) if (k !== 'cookie') o[k] = describe(sess[k]);
  return o;
}

function login(sess, user) {
  sess.user = user;
  sess.n = 42;
  sess.pi = 3.141592653589793;
  sess.big = 9007199254740991;
  sess.tiny = 1e-7;
  sess.neg = -0.5;
  sess.flag = true;
  sess.none = null;
  sess.nested = { a: [1, 2.5, { b: 'x', c: [] }], s: 'é\u2028<&>"' };
  sess.when = new Date(1700000000123);
}

function listen(server) {
  server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
    console.log('PORT ' + server.address().port);
  });
}

function expressApp() {
  const express = require('express');
  const session = require('express-session');
  let store;
  if (pairing === 'express-cms') {
    const MongoDBStore = require('connect-mongodb-session')(session);
    store = new MongoDBStore({ uri, databaseName: db, collection: coll });
    // FerretDB 1.x has no TTL index: the store reports it here and carries on.
    store.on('error', (e) => console.error('store error:', e.message));
  } else {
    const { MongoStore, createWebCryptoAdapter } = require('connect-mongo');
    const opts = {
      mongoUrl: uri, dbName: db, collectionName: coll,
      stringify: pairing !== 'express-cm-obj',
      autoRemove: 'disabled', // FerretDB 1.x has no TTL index
    };
    if (process.env.CRYPTO === 'webcrypto') {
      const c = { secret: process.env.CRYPTO_SECRET };
      if (process.env.CRYPTO_ITERATIONS) c.iterations = Number(process.env.CRYPTO_ITERATIONS);
      if (process.env.CRYPTO_ENCODING) c.encoding = process.env.CRYPTO_ENCODING;
      opts.cryptoAdapter = createWebCryptoAdapter(c);
    }
    if (process.env.CRYPTO === 'kruptein') opts.crypto = { secret: process.env.CRYPTO_SECRET };
    store = MongoStore.create(opts);
  }
  const app = express();
  app.use(session({ secret: secrets, store, resave: false, saveUninitialized: false, cookie: { maxAge } }));
  app.get('/login', (req, res) => { login(req.session, String(req.query.user)); res.json({ ok: true }); });
  app.get('/whoami', (req, res) => {
    res.json({ session: view(req.session), cookieExpires: describe(req.session.cookie.expires) });
  });
  app.get('/set', (req, res) => {
    req.session[String(req.query.key)] = JSON.parse(String(req.query.json), revive);
    res.json({ ok: true });
  });
  app.get('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ ok: true }))));
  app.use((err, req, res, next) => {
    console.error('app error:', err && err.stack);
    res.status(500).json({ error: String(err && err.stack || err) });
  });
  listen(require('http').createServer(app));
}

function koaApp() {
  const Koa = require('koa');
  const session = require('koa-generic-session');
  // connect-mongodb-session's store, wrapped in promises as koa-generic-session's store
  // (the layout koa-mongodb-session uses: _id is "koa:sess:" + sid).
  const MongoDBStore = require('connect-mongodb-session')({ Store: require('events').EventEmitter });
  const cms = new MongoDBStore({ uri, databaseName: db, collection: coll });
  cms.on('error', (e) => console.error('store error:', e.message));
  const store = {
    get: util.promisify(cms.get.bind(cms)),
    set: (sid, sess) => util.promisify(cms.set.bind(cms))(sid, sess),
    destroy: util.promisify(cms.destroy.bind(cms)),
  };
  const app = new Koa();
  app.keys = secrets;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      console.error('app error:', err && err.stack);
      ctx.status = 500;
      ctx.body = { error: String(err && err.stack || err) };
    }
  });
  app.use(session({ store, cookie: { maxAge } }));
  app.use(async (ctx) => {
    switch (ctx.path) {
      case '/login': login(ctx.session, String(ctx.query.user)); ctx.body = { ok: true }; break;
      case '/whoami': ctx.body = { session: view(ctx.session) }; break;
      case '/set': ctx.session[String(ctx.query.key)] = JSON.parse(String(ctx.query.json), revive); ctx.body = { ok: true }; break;
      case '/logout': ctx.session = null; ctx.body = { ok: true }; break;
      default: ctx.status = 404;
    }
  });
  listen(require('http').createServer(app.callback()));
}

process.on('unhandledRejection', (e) => console.error('unhandled rejection:', e && e.stack));
if (pairing === 'koa') koaApp(); else expressApp();
