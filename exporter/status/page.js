// The status page's script: the device list is fetched a page at a time
// from api/devices (filter, sort, paging), so that the page stays small
// with any number of devices; the other tables sort in place.
(function () {
  'use strict';
  var table = document.getElementById('devices');
  var body = table.tBodies[0];
  // The most overdue first: how far past its own silence each device is.
  var state = {q: '', sort: 'overdue', desc: false, silent: false, offset: 0, limit: Number(table.dataset.limit)};
  var filter = document.getElementById('filter');

  function age(now, t) {
    if (!t || t.startsWith('0001-')) return '-';
    var s = Math.floor((now - Date.parse(t)) / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    if (s < 48 * 3600) return Math.floor(s / 3600) + 'h';
    return Math.floor(s / 86400) + 'd';
  }

  function duration(s) {
    if (s < 60) return Math.round(s) + 's';
    if (s < 3600) return Math.round(s / 60) + 'm';
    if (s < 48 * 3600) return Math.round(s / 3600) + 'h';
    return Math.round(s / 86400) + 'd';
  }

  function cell(text, cls, title) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    if (title) td.title = title;
    return td;
  }

  function row(d, now, events) {
    var tr = document.createElement('tr');
    tr.appendChild(cell(d.ident, 'cut', d.ident));
    tr.appendChild(cell(d.name, 'cut', d.name));
    tr.appendChild(cell(age(now, d.last_message), 'n', d.last_message));
    var silent = d.silent;
    tr.appendChild(cell(age(now, d.last_received) + (silent ? ' silent' : ''), silent ? 'n bad' : 'n', d.last_received));
    // The threshold in plain sight (a phone has no hover), its reason in the title.
    tr.appendChild(cell(duration(d.silent_after_seconds), 'n',
      d.usual_gap_seconds > 0 ? 'usual gap ' + duration(d.usual_gap_seconds) + ', ' + (d.moving ? 'moving' : 'parked') : 'no rhythm learned yet'));
    if (silent) tr.classList.add('silent');
    // The fleet events: the vehicle now, and its newest event (device time).
    var ev = events && events[d.ident];
    tr.appendChild(!ev ? cell('-') : cell(ev.motion + (ev.last_event ? ', ' + ev.last_event + ' ' + age(now, ev.last_event_at) : ''),
      'motion ' + ev.motion, ev.last_event ? 'last event ' + ev.last_event + ', ended ' + ev.last_event_at + ' (device time)' : ''));
    tr.appendChild(cell(String(d.messages), 'n'));
    tr.appendChild(cell(String(d.mapped), 'n'));
    tr.appendChild(cell(String(d.unmapped), 'n'));
    tr.appendChild(cell(d.source));
    var td = document.createElement('td');
    var b = document.createElement('button');
    b.className = 'forget';
    b.dataset.ident = d.ident;
    b.textContent = 'forget';
    b.title = 'Remove the device from the registry and /metrics until its next message';
    td.appendChild(b);
    tr.appendChild(td);
    return tr;
  }

  var pending = 0;
  function load() {
    var ask = ++pending;
    var url = 'api/devices?q=' + encodeURIComponent(state.q) + '&sort=' + state.sort +
      '&desc=' + state.desc + '&silent=' + state.silent + '&offset=' + state.offset + '&limit=' + state.limit;
    return fetch(url).then(function (r) { return r.json(); }).then(function (page) {
      if (ask !== pending) return; // an older answer
      var now = Date.now();
      body.replaceChildren.apply(body, page.devices.map(function (d) { return row(d, now, page.events); }));
      document.getElementById('device-count').textContent = page.total;
      var last = Math.min(state.offset + page.devices.length, page.total);
      document.getElementById('device-range').textContent =
        page.total ? (state.offset + 1) + '-' + last + ' of ' + page.total : 'none';
      document.getElementById('prev').disabled = state.offset === 0;
      document.getElementById('next').disabled = last >= page.total;
      table.dataset.loaded = String(ask);
    });
  }

  filter.addEventListener('input', function () { state.q = this.value; state.offset = 0; load(); });
  document.getElementById('silent-only').addEventListener('change', function () {
    state.silent = this.checked; state.offset = 0; load();
  });
  document.getElementById('prev').addEventListener('click', function () {
    state.offset = Math.max(0, state.offset - state.limit); load();
  });
  document.getElementById('next').addEventListener('click', function () {
    state.offset += state.limit; load();
  });
  table.querySelectorAll('th[data-sort]').forEach(function (th) {
    th.addEventListener('click', function () {
      state.desc = state.sort === th.dataset.sort ? !state.desc : false;
      state.sort = th.dataset.sort;
      state.offset = 0;
      load();
    });
  });
  body.addEventListener('click', function (e) {
    var b = e.target.closest('button.forget');
    if (!b) return;
    var ident = b.dataset.ident;
    if (!confirm('Forget device ' + ident + '? Its last-message gauges leave /metrics until it sends again.')) return;
    fetch('api/devices/forget?ident=' + encodeURIComponent(ident), {method: 'POST'}).then(function (r) {
      if (r.ok) { load(); } else { r.text().then(function (t) { alert(t); }); }
    });
  });

  // The other tables are whole on the page: they sort in place.
  document.querySelectorAll('table.sortable.local th').forEach(function (th) {
    th.addEventListener('click', function () {
      var col = th.cellIndex;
      var t = th.closest('table'), tb = t.tBodies[0];
      var numeric = th.dataset.type === 'n', asc = th.dataset.dir !== 'asc';
      t.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = asc ? 'asc' : 'desc';
      var rows = Array.prototype.slice.call(tb.rows).filter(function (r) { return r.cells.length > col; });
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var u = x.dataset.v !== undefined ? x.dataset.v : x.textContent, v = y.dataset.v !== undefined ? y.dataset.v : y.textContent;
        var r = numeric ? parseFloat(u) - parseFloat(v) : u.localeCompare(v);
        return asc ? r : -r;
      });
      rows.forEach(function (r) { tb.appendChild(r); });
    });
  });
})();
