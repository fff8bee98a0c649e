-- The UI language each user chose (remembered across devices); null until they choose one.
alter table users add column language text check (language in ('en', 'ru', 'uz'));
