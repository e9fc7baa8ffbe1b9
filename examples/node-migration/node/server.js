'use strict';
// The Express half of the node-migration example. Sessions live in MongoDB
// through connect-mongodb-session; the Go service (../main.go) shares them.
//
//   npm install && npm start      (MONGODB_URI defaults to the Go side's embedded server)
const express = require('express');
const session = require('express-session');
const MongoDBStore = require('connect-mongodb-session')(session);

const uri = process.env.MONGODB_URI || 'mongodb://127.0.0.1:27018/';
const store = new MongoDBStore({ uri, databaseName: 'node_migration', collection: 'sessions' });
store.on('error', (err) => console.error('session store:', err.message)); // e.g. no TTL index on FerretDB 1.x

const secret = process.env.SESSION_SECRET || 'keyboard cat';
if (!process.env.SESSION_SECRET) {
  console.warn('WARNING: SESSION_SECRET is not set: cookies are signed with the public default "keyboard cat", and anyone can forge a session. Set SESSION_SECRET (the same on the Go service) for anything but this demo.');
}

const app = express();
app.use(express.urlencoded({ extended: false }));
// State changes are POSTs, and a POST from another site's page is refused
// (as Go's http.CrossOriginProtection does); sameSite 'lax' keeps the
// cookie off such requests in any case.
app.use((req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const site = req.get('Sec-Fetch-Site');
  if (site) return site === 'same-origin' || site === 'none' ? next() : res.status(403).send('cross-origin request refused');
  const origin = req.get('Origin');
  if (origin) { // "null" (a sandboxed frame, a cross-origin redirect) matches no host: refused
    try {
      if (origin !== 'null' && new URL(origin).host === req.get('Host')) return next();
    } catch { /* malformed Origin: refused below */ }
    return res.status(403).send('cross-origin request refused');
  }
  next(); // no browser headers: not a browser (curl)
});
app.use(session({
  secret: [secret],
  store,
  resave: false,
  saveUninitialized: false,
  cookie: { maxAge: 24 * 60 * 60 * 1000, sameSite: 'lax' },
}));

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');

app.get('/', (req, res) => {
  const s = req.session;
  res.type('html').send(s.user
    ? `<p>Logged in as ${esc(s.user)} since ${esc(s.loginAt)}; visits counted by the Go service: ${esc(s.goVisits || 0)}.</p>
       <p><a href="http://localhost:8080/api/me">Go: /api/me</a></p>
       <form method="post" action="http://localhost:8080/api/visit"><button>Go: count a visit</button></form>
       <form method="post" action="/logout"><button>Log out</button></form>`
    : '<form method="post" action="/login"><input name="user" placeholder="name"> <button>Log in</button></form>');
});

app.post('/login', (req, res, next) => {
  // A new session id at login, as express-session recommends.
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = String(req.body.user || 'alice');
    req.session.loginAt = new Date();
    res.redirect(303, '/');
  });
});

app.post('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.redirect(303, '/'))));

const port = Number(process.env.PORT || 3000);
app.listen(port, () => console.log(`Express app on http://localhost:${port}`));
