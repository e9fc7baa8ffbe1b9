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

const app = express();
app.use(session({
  secret: [process.env.SESSION_SECRET || 'keyboard cat'],
  store,
  resave: false,
  saveUninitialized: false,
  cookie: { maxAge: 24 * 60 * 60 * 1000 },
}));

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');

app.get('/', (req, res) => {
  const s = req.session;
  res.type('html').send(s.user
    ? `<p>Logged in as ${esc(s.user)} since ${esc(s.loginAt)}; visits counted by the Go service: ${esc(s.goVisits || 0)}.</p>
       <p><a href="http://localhost:8080/api/me">Go: /api/me</a> · <a href="http://localhost:8080/api/visit">Go: /api/visit</a> · <a href="/logout">log out</a></p>`
    : '<form action="/login"><input name="user" placeholder="name"> <button>Log in</button></form>');
});

app.get('/login', (req, res, next) => {
  // A new session id at login, as express-session recommends.
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = String(req.query.user || 'alice');
    req.session.loginAt = new Date();
    res.redirect('/');
  });
});

app.get('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.redirect('/'))));

const port = Number(process.env.PORT || 3000);
app.listen(port, () => console.log(`Express app on http://localhost:${port}`));
