// Card entry on the payout step: the number goes straight to the payout provider's
// tokenisation endpoint (the development sandbox's here; ЮKassa's widget in production), and
// only its token and masked number are posted with the application.
(function () {
  var entry = document.getElementById('card-entry');
  var method = document.getElementById('payout_method');
  if (!entry || !method) return;
  function shown() { entry.hidden = method.value !== 'card'; }
  method.addEventListener('change', shown);
  shown();
  document.getElementById('card-link').addEventListener('click', function () {
    var exp = document.getElementById('card-exp').value.split('/');
    fetch('/sandbox/cards', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        pan: document.getElementById('card-pan').value.replace(/\s/g, ''),
        exp_month: parseInt(exp[0], 10),
        exp_year: 2000 + parseInt(exp[1], 10)
      })
    }).then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
      .then(function (answer) {
        var note = document.getElementById('card-linked');
        if (!answer[0]) { note.textContent = 'Карта не принята: проверьте номер и срок.'; return; }
        document.querySelector('input[name=card_token]').value = answer[1].card_token;
        document.querySelector('input[name=masked_pan]').value = answer[1].masked_pan;
        note.textContent = 'Карта ' + answer[1].masked_pan + ' привязана.';
      });
  });
})();
